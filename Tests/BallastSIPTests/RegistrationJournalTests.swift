import BallastCore
@testable import BallastSIP
import BallastSIPRegistrar
import BallastTestSupport
import Foundation
import Synchronization
import Testing

/// The bindings journal: group commit on its own thread, read back at start, compacted.
@Suite struct RegistrationJournalTests {
    func binding(_ n: Int, expiresAt: Double = 4_000_000_000) -> Binding {
        Binding(uri: "sip:phone\(n)@192.0.2.1", expiresAt: expiresAt, callID: "c\(n)", cseq: 1)
    }

    @Test func everySubmitterHearsBackOnceItsBatchIsOnDiskAndARestartReadsItBack() async throws {
        let folder = try BallastProcess.makeDirectory()
        let path = folder.appendingPathComponent("state/registrations.jsonl").path
        let (journal, restored) = try RegistrationJournal.open(path: path, now: 1_000)
        #expect(restored.isEmpty)
        let saved = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<200 {
                let change = BindingChange(pool: "hq", aor: "sip:u\(n)@x", bindings: [binding(n)])
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
                        journal.submit([change]) { ok in done.resume(returning: ok) }
                    }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(saved == 200)
        // The last change of an address of record wins; an empty list removes it.
        journal.submit([BindingChange(pool: "hq", aor: "sip:u0@x", bindings: [])])
        journal.close()
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let (again, bindings) = try RegistrationJournal.open(path: path, now: 1_000)
        again.close()
        #expect(bindings["hq"]?.bindings.count == 199)
        #expect(bindings["hq"]?.current("sip:u7@x", at: 1_000) == [binding(7)])
        #expect(bindings["hq"]?.current("sip:u0@x", at: 1_000).isEmpty == true)
    }

    @Test func aLineCutShortByACrashIsSkippedAndLapsedBindingsAreDroppedAtStart() throws {
        let folder = try BallastProcess.makeDirectory()
        let path = folder.appendingPathComponent("registrations.jsonl").path
        let encoder = JSONEncoder()
        var text = String(decoding: try encoder.encode(BindingChange(pool: "hq", aor: "a", bindings: [binding(1)])), as: UTF8.self)
        text += "\n" + String(decoding: try encoder.encode(BindingChange(pool: "hq", aor: "b", bindings: [binding(2, expiresAt: 10)])), as: UTF8.self)
        text += "\n{\"pool\":\"hq\",\"aor\":\"c\",\"bind"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let (journal, bindings) = try RegistrationJournal.open(path: path, now: 1_000)
        journal.close()
        #expect(bindings["hq"]?.bindings.keys.sorted() == ["a"])
        // Compacted at start: only what is live is left.
        #expect(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count == 1)
    }

    @Test func theFileIsCompactedWhenItGrowsPastTwiceWhatIsLive() async throws {
        let folder = try BallastProcess.makeDirectory()
        let path = folder.appendingPathComponent("registrations.jsonl").path
        let (journal, _) = try RegistrationJournal.open(path: path, now: 1_000)
        // 1,500 refreshes of the same ten addresses of record, in batches of 100.
        for round in 0..<15 {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let changes = (0..<100).map { n in
                    BindingChange(pool: "hq", aor: "sip:u\(n % 10)@x", bindings: [binding(round * 100 + n)])
                }
                journal.submit(changes) { _ in done.resume() }
            }
        }
        journal.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count
        #expect(lines < 1_000)
        let (again, bindings) = try RegistrationJournal.open(path: path, now: 1_000)
        again.close()
        #expect(bindings["hq"]?.current("sip:u3@x", at: 1_000) == [binding(1_493)])
    }

    @Test func aSubmitAfterCloseIsToldItWasNotSaved() throws {
        let folder = try BallastProcess.makeDirectory()
        let (journal, _) = try RegistrationJournal.open(path: folder.appendingPathComponent("r.jsonl").path, now: 0)
        journal.close()
        final class Told: Sendable { let value = Mutex<Bool?>(nil) }
        let told = Told()
        journal.submit([BindingChange(pool: "hq", aor: "a", bindings: [binding(1)])]) { ok in told.value.withLock { $0 = ok } }
        #expect(told.value.withLock { $0 } == false)
    }

    @Test func anUnwritableFolderIsAnErrorThatNamesTheSetting() throws {
        #expect {
            _ = try RegistrationJournal.open(path: "/proc/ballast-no/registrations.jsonl", now: 0)
        } throws: { error in
            "\(error)".contains("sip.registrations-file")
        }
    }

    @Test func aLineReadsBackAsTheChangeItWasWrittenFrom() throws {
        let odd = "sip:\"quoted\"\\back\u{1}\u{1F}tab\tü€@192.0.2.1"
        let changes = [
            BindingChange(pool: "hq", aor: "sip:a@x", bindings: []),
            BindingChange(
                pool: "p\"ool", aor: odd,
                bindings: [
                    Binding(uri: odd, expiresAt: 1_800_000_123.456, callID: "c\\1", cseq: 4_294_967_295, q: "0.5", resiliency: true),
                    Binding(uri: "sip:b@x", expiresAt: 7, callID: "", cseq: 0),
                ]),
        ]
        for change in changes {
            var line: [UInt8] = []
            JournalLine.append(change, to: &line)
            #expect(line.last == UInt8(ascii: "\n"))
            #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false)
            #expect(try JSONDecoder().decode(BindingChange.self, from: Data(line.dropLast())) == change)
        }
    }
}
