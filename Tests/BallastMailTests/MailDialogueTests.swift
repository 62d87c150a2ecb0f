import Testing

@testable import BallastMail

/// What every pre-login dialogue owes its connection, whatever the protocol.
struct MailDialogueTests {
    /// Feeds `text` and collects steps until the dialogue waits (at most 100).
    static func steps(_ dialogue: inout some MailDialogue, _ text: String) -> [MailStep] {
        Array(text.utf8).withUnsafeBytes { dialogue.append($0) }
        var steps: [MailStep] = []
        while steps.count < 100, let step = dialogue.next() { steps.append(step) }
        return steps
    }

    /// A fresh dialogue of `dialect`, offering STARTTLS or STLS.
    static func dialogue(_ dialect: String) -> any MailDialogue {
        dialect == "imap"
            ? IMAPDialogue(tlsOffered: true, tlsOn: false) : POP3Dialogue(tlsOffered: true, tlsOn: false)
    }

    /// Random bytes never make a dialogue loop, and it never keeps more than it was given.
    @Test(arguments: ["imap", "pop3"])
    func randomBytesNeverLoopOrGrowWithoutBound(dialect: String) {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var dialogue = Self.dialogue(dialect)
            let bytes = (0..<Int.random(in: 1...3000, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            bytes.withUnsafeBytes { dialogue.append($0) }
            var count = 0
            while count < 5000, dialogue.next() != nil { count += 1 }
            #expect(count < 5000)
            #expect(dialogue.leftover.count <= 3000)
        }
    }
}
