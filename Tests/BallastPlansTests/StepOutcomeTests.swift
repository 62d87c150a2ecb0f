import BallastCore
import BallastPlans
import BallastStore
import Testing

/// How a step's outcome is kept in the plan's record and read back by the steps after it.
@Suite struct StepOutcomeTests {
    let move = PlanStep.Action.moveUsers(from: "pool-hq", to: "pool-dr")
    let activation = PlanStep.Action.activateCopies(site: "hq")

    @Test func listsRoundTripThroughTheStoredText() {
        let users = StepResult.users(["sip:alice@contoso.com", "sip:bob@contoso.com"])
        #expect(StepResult.listed(users.stored, by: move) == users)
        let moves = StepResult.activations([
            Activation(database: "DB01", from: "EX1", to: "EX3"), Activation(database: "DB02", from: "EX2", to: "EX4"),
        ])
        #expect(moves.stored == #"["DB01:EX1>EX3","DB02:EX2>EX4"]"#)
        #expect(StepResult.listed(moves.stored, by: activation) == moves)
        #expect(StepResult.listed(StepResult.users([]).stored, by: move) == .users([]))
    }

    @Test func aSentenceOrAnotherStepsResultIsNoList() {
        #expect(StepResult.note("site hq fenced").stored == "site hq fenced")
        #expect(StepResult.listed("site hq fenced", by: move) == nil)
        #expect(StepResult.listed("", by: move) == nil)
        #expect(StepResult.listed(#"["sip:a@contoso.com"]"#, by: .fenceSite("hq")) == nil)
        #expect(StepResult.listed(#"["sip:a@contoso.com"]; warning: late"#, by: move) == nil)
        #expect(StepResult.listed("[not json", by: move) == nil)
        #expect(StepResult.listed(#"[1, 2]"#, by: move) == nil)
    }

    @Test func summariesCountLists() {
        #expect(StepResult.users(["a", "b", "c"]).summary == "3 listed")
        #expect(StepResult.activations([]).summary == "0 listed")
        #expect(StepResult.note("done").summary == "done")
    }

    @Test func outcomesGiveTheRecordsStatusAndResult() {
        #expect(StepOutcome.done(.note("ok")).status == .done)
        #expect(StepOutcome.skipped("SQLite: one file").status == .skipped)
        #expect(StepOutcome.skipped("SQLite: one file").result == .note("SQLite: one file"))
        #expect(StepOutcome.done(.users(["a"])).result == .users(["a"]))
    }

    @Test(arguments: ["", "DB01", "DB01:", "DB01:EX1", "DB01:EX1>", "DB01:>EX3", ":EX1>EX3", "DB01:EX1>EX3>EX4"])
    func malformedActivationsAreRefused(text: String) {
        #expect(Activation(text) == nil)
    }

    @Test func activationsReadTheirText() {
        #expect(Activation("DB01:EX1>EX3") == Activation(database: "DB01", from: "EX1", to: "EX3"))
        #expect(Activation("DB:01:EX1>EX3") == Activation(database: "DB", from: "01:EX1", to: "EX3"))
        // A stored list with one damaged entry keeps the others.
        let stored = #"["DB01:EX1>EX3","garbage","DB02:EX2>EX4"]"#
        #expect(StepResult.listed(stored, by: activation)?.activations?.map(\.database) == ["DB01", "DB02"])
    }

    @Test func randomTextNeverBreaksTheReader() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"[]",:>{}\ abcDB01EX"#)
        for _ in 0..<2_000 {
            let text = String((0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement()! })
            _ = StepResult.listed(text, by: move)
            _ = StepResult.listed(text, by: activation)
            _ = Activation(text)
        }
    }
}
