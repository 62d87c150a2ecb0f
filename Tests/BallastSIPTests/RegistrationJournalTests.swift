import BallastCore
import BallastSIPRegistrar
import BallastTestSupport
import Foundation
import Synchronization
import Testing

@testable import BallastSIP

/// The bindings journal: group commit on its own thread, read back at start, compacted.
@Suite struct RegistrationJournalTests {
    func binding(_ n: Int, expiresAt: Double = 4_000_000_000) -> Binding {
        Binding(uri: "sip:phone\(n)@192.0.2.1", expiresAt: expiresAt, callID: "c\(n)", cseq: 1)
    }

    /// The file's lines: what comes before the zeros written ahead.
    func lines(_ path: String) throws -> [Substring] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let end = data.firstIndex(of: 0) ?? data.endIndex
        return String(decoding: data[..<end], as: UTF8.self).split(separator: "\n")
    }

    func size(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? -1
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
        var text = String(
            decoding: try encoder.encode(BindingChange(pool: "hq", aor: "a", bindings: [binding(1)])), as: UTF8.self)
        text +=
            "\n"
            + String(
                decoding: try encoder.encode(
                    BindingChange(pool: "hq", aor: "b", bindings: [binding(2, expiresAt: 10)])), as: UTF8.self)
        text += "\n{\"pool\":\"hq\",\"aor\":\"c\",\"bind"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let (journal, bindings) = try RegistrationJournal.open(path: path, now: 1_000)
        journal.close()
        #expect(bindings["hq"]?.bindings.keys.sorted() == ["a"])
        // Compacted at start: only what is live is left.
        #expect(try lines(path).count == 1)
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
        #expect(try lines(path).count < 1_000)
        let (again, bindings) = try RegistrationJournal.open(path: path, now: 1_000)
        again.close()
        #expect(bindings["hq"]?.current("sip:u3@x", at: 1_000) == [binding(1_493)])
    }

    /// Lines overwrite zeros written ahead, so most batches leave the file's length alone; one
    /// that would run past the end writes more zeros first. A restart reads every line back.
    @Test func linesGoOverZerosWrittenAheadAndTheFileGrowsOnlyPastThem() async throws {
        let folder = try BallastProcess.makeDirectory()
        let path = folder.appendingPathComponent("registrations.jsonl").path
        let (journal, _) = try RegistrationJournal.open(path: path, now: 1_000)
        let start = try size(path)
        #expect(start == RegistrationJournal.writeAhead)
        func save(_ changes: [BindingChange]) async -> Bool {
            await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
                journal.submit(changes) { done.resume(returning: $0) }
            }
        }
        for round in 0..<10 {
            #expect(
                await save(
                    (0..<10).map {
                        BindingChange(pool: "hq", aor: "sip:u\(round * 10 + $0)@x", bindings: [binding($0)])
                    }))
        }
        #expect(try size(path) == start)
        #expect(try lines(path).count == 100)
        // 30,000 distinct addresses of record, about 1.7 MB of lines per 10,000: past the zeros.
        for round in 0..<3 {
            let changes = (0..<10_000).map { n in
                BindingChange(
                    pool: "hq", aor: "sip:user-with-a-longer-name-\(round * 10_000 + n)@x", bindings: [binding(n)])
            }
            #expect(await save(changes))
        }
        journal.close()
        let grown = try size(path)
        #expect(grown > start)
        #expect(try lines(path).count == 30_100)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let end = data.firstIndex(of: 0)!
        #expect(grown - end >= RegistrationJournal.writeAhead - 300_000)
        #expect(data[end...].allSatisfy { $0 == 0 })
        let (again, bindings) = try RegistrationJournal.open(path: path, now: 1_000)
        again.close()
        #expect(bindings["hq"]?.bindings.count == 30_100)
    }

    /// Each engine loop submits in a lane of its own and is given the number of the batch that
    /// carries its changes; observers hear of each batch once it is on disk, in order, and a
    /// change is on disk by the time its batch is announced. After close a submit is refused.
    @Test func lanesAreToldTheBatchThatCarriesTheirChangesAndObserversHearOfItOnDisk() async throws {
        let folder = try BallastProcess.makeDirectory()
        let path = folder.appendingPathComponent("registrations.jsonl").path
        let (journal, _) = try RegistrationJournal.open(path: path, now: 1_000, lanes: 3)
        final class Announced: Sendable { let batches = Mutex<[(UInt64, Bool, Int)]>([]) }
        let announced = Announced()
        journal.afterEachBatch { [lines] batch, saved in
            announced.batches.withLock { $0.append((batch, saved, (try? lines(path).count) ?? -1)) }
        }
        let tickets = await withTaskGroup(of: UInt64?.self) { group in
            for n in 0..<300 {
                group.addTask {
                    let change = BindingChange(pool: "hq", aor: "sip:u\(n)@x", bindings: [binding(n)])
                    return journal.submit([change], lane: n % 3)
                }
            }
            return await group.reduce(into: [UInt64?]()) { $0.append($1) }
        }
        let numbers = tickets.compactMap { $0 }
        #expect(numbers.count == 300 && numbers.allSatisfy { $0 >= 1 })
        let last = numbers.max() ?? 0
        #expect(await eventually(timeout: .seconds(10)) { announced.batches.withLock { $0.last?.0 ?? 0 } >= last })
        let batches = announced.batches.withLock { $0 }
        #expect(batches.map(\.0) == batches.map(\.0).sorted())
        #expect(batches.allSatisfy { $0.1 })
        // Every change whose ticket a batch announced is in the file by then.
        for (batch, _, linesThen) in batches {
            #expect(linesThen >= numbers.filter { $0 <= batch }.count)
        }
        journal.close()
        #expect(journal.submit([BindingChange(pool: "hq", aor: "late", bindings: [])], lane: 1) == nil)
        #expect(try lines(path).count == 300)
    }

    @Test func aSubmitAfterCloseIsToldItWasNotSaved() throws {
        let folder = try BallastProcess.makeDirectory()
        let (journal, _) = try RegistrationJournal.open(path: folder.appendingPathComponent("r.jsonl").path, now: 0)
        journal.close()
        final class Told: Sendable { let value = Mutex<Bool?>(nil) }
        let told = Told()
        journal.submit([BindingChange(pool: "hq", aor: "a", bindings: [binding(1)])]) { ok in
            told.value.withLock { $0 = ok }
        }
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
                    Binding(
                        uri: odd, expiresAt: 1_800_000_123.456, callID: "c\\1", cseq: 4_294_967_295, q: "0.5",
                        resiliency: true),
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
