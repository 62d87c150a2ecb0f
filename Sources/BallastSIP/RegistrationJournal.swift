import BallastCore
import BallastSIPRegistrar
import CBallastLinux
import Foundation
import Metrics
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps bindings across restarts: a file of JSON lines, one per change of an address of
/// record (its whole binding list), followed by zeros written ahead.
///
/// One thread writes it, with group commit: every change submitted while the last batch was
/// being written goes out in one write and one `fdatasync`, and each submitter hears back once
/// its batch is on disk (the registrar's 200 waits for that, never a lock or an engine
/// thread). Lines overwrite zeros already on disk, as a database's write-ahead log does, so a
/// sync flushes data alone and no file size or extent map (the file system's own journal)
/// changes for most batches. The same thread compacts the file when it has grown past twice
/// what is live.
final class RegistrationJournal: Sendable {
    /// Told whether the changes are on disk.
    typealias Completion = @Sendable (_ saved: Bool) -> Void

    /// One submitter's queue (an engine loop's, or the rest's), so that loops submitting at
    /// once never wait for each other, only now and then for the writer taking their queue.
    private struct Lane {
        var changes: [BindingChange] = []
        var completions: [Completion] = []
        /// The number of the batch that takes what is queued now.
        var batch: UInt64 = 1
        /// Set by the writer's last batch: nothing more is taken.
        var closed = false
        /// When the oldest change queued now was submitted.
        var oldest: ContinuousClock.Instant?
    }

    /// A lane behind its own lock (a class: a `Mutex` cannot sit in an array).
    private final class LaneLock: Sendable {
        let state = Mutex(Lane())
    }

    /// What only the writer thread touches (behind a lock it never waits for).
    private struct File {
        var descriptor: Int32
        /// Where the next line goes: the end of the lines, the start of the zeros.
        var offset: Int
        /// The file's length: lines, then zeros.
        var length: Int
        var linesWritten = 0
        /// What the file holds, by pool and address of record, for compaction.
        var live: [String: [String: [Binding]]]
        var liveCount: Int
    }

    let path: String
    private let lanes: [LaneLock]
    /// Set by `close`: the writer takes what is queued one last time and stops.
    private let closing = Atomic<Bool>(false)
    /// Whether the writer has been woken for what is queued (one wake per batch, not per submit).
    private let woken = Atomic<Bool>(false)
    /// Run on the writer thread after the completions of each batch, with its number and
    /// whether it is on disk (to send the batch's answers together).
    private let afterBatch = Mutex<[@Sendable (_ batch: UInt64, _ saved: Bool) -> Void]>([])
    private let file: Mutex<File>
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    /// How far ahead of the lines the file is zero-filled, in bytes.
    static let writeAhead = 4 << 20

    private init(
        path: String, descriptor: Int32, written: (offset: Int, length: Int), live: [String: Registrations], lanes: Int
    ) {
        self.path = path
        self.lanes = (0..<max(1, lanes)).map { _ in LaneLock() }
        var mirror: [String: [String: [Binding]]] = [:]
        var count = 0
        for (pool, table) in live {
            mirror[pool] = table.bindings
            count += table.bindings.values.reduce(0) { $0 + $1.count }
        }
        file = Mutex(
            File(descriptor: descriptor, offset: written.offset, length: written.length, live: mirror, liveCount: count)
        )
        let thread = Thread { [self] in run() }
        thread.name = "ballast-bindings-journal"
        thread.start()
    }

    /// Opens the journal at `path` (compacted, lapsed bindings dropped) for `lanes`
    /// submitters (one per engine loop, and one for the rest) and returns it with the
    /// bindings it holds.
    static func open(
        path: String, now: Double, lanes: Int = 1
    ) throws(SIPEdgeError) -> (RegistrationJournal, [String: Registrations]) {
        let manager = FileManager.default
        let folder = (path as NSString).deletingLastPathComponent
        var registrations: [String: Registrations] = [:]
        do {
            if !folder.isEmpty { try manager.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            if let data = manager.contents(atPath: path) {
                let decoder = JSONDecoder()
                // The lines end where the zeros written ahead begin (JSON lines hold no NUL).
                let lines = data.firstIndex(of: 0).map { data[..<$0] } ?? data[...]
                for line in lines.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                    // A line cut short by a crash is the last one; what came before it stands.
                    guard let entry = try? decoder.decode(BindingChange.self, from: Data(line)) else { continue }
                    registrations[entry.pool, default: Registrations()].replace(entry.aor, with: entry.bindings)
                }
            }
            for pool in registrations.keys { registrations[pool]?.removeExpired(at: now) }
            let written = try write(registrations.mapValues(\.bindings), to: path)
            let descriptor = Glibc.open(path, O_WRONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw SIPEdgeError(
                    description: "\(path) cannot be opened for writing (\(String(cString: strerror(errno))))")
            }
            return (
                RegistrationJournal(
                    path: path, descriptor: descriptor, written: written, live: registrations, lanes: lanes),
                registrations
            )
        } catch let error as SIPEdgeError {
            throw SIPEdgeError(
                description:
                    "the registrations file cannot be used: \(error.description); check sip.registrations-file and its folder's permissions"
            )
        } catch {
            throw SIPEdgeError(
                description:
                    "the registrations file \(path) cannot be read or written (\(error)); check sip.registrations-file and its folder's permissions"
            )
        }
    }

    /// The lane of submitters that are not engine loops (the registrar's expiry tick).
    var otherLane: Int { lanes.count - 1 }

    /// Queues `changes` for the next batch in `lane` (an engine loop's index; any other
    /// submitter uses `otherLane`) and returns the number of the batch that will carry them,
    /// which `afterEachBatch` observers are told; nil once closed. `completion` runs on the
    /// writer thread once that batch is on disk or could not be written; after `close` it
    /// runs at once, unsaved.
    @discardableResult
    func submit(_ changes: [BindingChange], lane: Int = 0, completion: Completion? = nil) -> UInt64? {
        let batch = lanes[min(max(lane, 0), lanes.count - 1)].state.withLock { lane -> UInt64? in
            guard !lane.closed else { return nil }
            if lane.oldest == nil { lane.oldest = .now }
            lane.changes += changes
            if let completion { lane.completions.append(completion) }
            return lane.batch
        }
        guard let batch else {
            completion?(false)
            return nil
        }
        if !woken.exchange(true, ordering: .acquiringAndReleasing) { wake.signal() }
        return batch
    }

    /// Runs `observer` on the writer thread after the completions of every batch, with the
    /// batch's number and whether it is on disk.
    func afterEachBatch(_ observer: @escaping @Sendable (_ batch: UInt64, _ saved: Bool) -> Void) {
        afterBatch.withLock { $0.append(observer) }
    }

    /// Writes what is queued, stops the writer and closes the file.
    func close() {
        guard !closing.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        done.wait()
        file.withLock { _ = Glibc.close($0.descriptor) }
    }

    /// The shortest time between two batches' syncs. Each `fdatasync` costs the process tens
    /// of µs of CPU whatever it carries, so under load the writer lets a millisecond's changes
    /// gather; a change that arrives after a quiet spell is written at once.
    static let minimumSyncInterval: Duration = .milliseconds(1)

    private func run() {
        ballast_name_thread("ballast-journal")
        let syncTime = Metrics.Timer(label: "ballast_sip_journal_sync_seconds")
        let waitTime = Metrics.Timer(label: "ballast_sip_journal_wait_seconds")
        let batchSize = Recorder(label: "ballast_sip_journal_batch_changes")
        let clock = ContinuousClock()
        var lastSync = clock.now - Self.minimumSyncInterval
        var batch: UInt64 = 1
        // What the lanes held, swapped out so that their arrays keep their capacity.
        var spareChanges: [[BindingChange]] = lanes.map { _ in [] }
        var spareCompletions: [[Completion]] = lanes.map { _ in [] }
        while true {
            wake.wait()
            let due = lastSync + Self.minimumSyncInterval
            let remaining = clock.now.duration(to: due)
            if remaining > .zero {
                let (seconds, attoseconds) = remaining.components
                var pause = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
                var left = timespec()
                while nanosleep(&pause, &left) != 0 && errno == EINTR { pause = left }
            }
            let last = closing.load(ordering: .acquiring)
            woken.store(false, ordering: .releasing)
            var changes: [BindingChange] = []
            var completions: [Completion] = []
            var oldest: ContinuousClock.Instant?
            for (index, lane) in lanes.enumerated() {
                lane.state.withLock { lane in
                    if let queued = lane.oldest, oldest.map({ queued < $0 }) ?? true { oldest = queued }
                    lane.oldest = nil
                    swap(&lane.changes, &spareChanges[index])
                    swap(&lane.completions, &spareCompletions[index])
                    lane.batch = batch + 1
                    lane.closed = last
                }
                changes += spareChanges[index]
                completions += spareCompletions[index]
                spareChanges[index].removeAll(keepingCapacity: true)
                spareCompletions[index].removeAll(keepingCapacity: true)
            }
            if !changes.isEmpty || !completions.isEmpty {
                lastSync = clock.now
                let saved = file.withLock { file in Self.append(changes, to: &file, path: path) }
                let synced = clock.now
                for completion in completions { completion(saved) }
                for observer in afterBatch.withLock({ $0 }) { observer(batch, saved) }
                syncTime.record(duration: lastSync.duration(to: synced))
                if let oldest { waitTime.record(duration: oldest.duration(to: clock.now)) }
                batchSize.record(changes.count)
            }
            batch += 1
            if last { break }
        }
        done.signal()
    }

    /// One write and one fdatasync for the whole batch (zeros written further ahead first when
    /// the lines would reach the end); then compaction, when due.
    private static func append(_ changes: [BindingChange], to file: inout File, path: String) -> Bool {
        guard !changes.isEmpty else { return true }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(changes.count * 256)
        for change in changes {
            JournalLine.append(change, to: &bytes)
            let before = file.live[change.pool]?[change.aor]?.count ?? 0
            file.live[change.pool, default: [:]][change.aor] = change.bindings.isEmpty ? nil : change.bindings
            file.liveCount += change.bindings.count - before
        }
        let end = file.offset + bytes.count
        var saved = true
        if end > file.length {
            let length = end + writeAhead
            saved = writeZeros(file.descriptor, from: file.length, to: length)
            if saved { file.length = length }
        }
        saved =
            saved && bytes.withUnsafeBytes { writeAll(file.descriptor, $0, at: file.offset) }
            && fdatasync(file.descriptor) == 0
        if saved { file.offset = end }
        file.linesWritten += changes.count
        if file.linesWritten > 1000 && file.linesWritten > 2 * file.liveCount {
            compact(&file, path: path)
        }
        return saved
    }

    /// Rewrites the file with only what is live; on failure the longer file stays.
    private static func compact(_ file: inout File, path: String) {
        let written: (offset: Int, length: Int)
        do {
            written = try write(file.live, to: path)
        } catch {
            return
        }
        let reopened = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        guard reopened >= 0 else { return }
        _ = Glibc.close(file.descriptor)
        file.descriptor = reopened
        (file.offset, file.length) = written
        file.linesWritten = 0
    }

    /// Writes `live` and the zeros ahead of it to a new file, synced, and renames it over
    /// `path`; returns where the lines end and the file's length.
    private static func write(
        _ live: [String: [String: [Binding]]], to path: String
    ) throws -> (offset: Int, length: Int) {
        var data: [UInt8] = []
        for (pool, table) in live.sorted(by: { $0.key < $1.key }) {
            for (aor, bindings) in table.sorted(by: { $0.key < $1.key }) {
                JournalLine.append(BindingChange(pool: pool, aor: aor, bindings: bindings), to: &data)
            }
        }
        // Contacts and addresses of every phone: readable by Ballast's user only.
        let temporary = path + ".tmp"
        unlink(temporary)
        let descriptor = Glibc.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SIPEdgeError(description: "\(temporary) cannot be created") }
        defer { _ = Glibc.close(descriptor) }
        let length = data.count + writeAhead
        let complete =
            data.withUnsafeBytes { writeAll(descriptor, $0, at: 0) }
            && writeZeros(descriptor, from: data.count, to: length)
            && fsync(descriptor) == 0
        guard complete else { throw SIPEdgeError(description: "\(temporary) cannot be written") }
        guard rename(temporary, path) == 0 else {
            throw SIPEdgeError(description: "\(temporary) cannot be renamed to \(path)")
        }
        return (data.count, length)
    }

    /// Writes all of `bytes` at `offset`; false on an error (a full disk, say).
    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        var written = 0
        while written < bytes.count {
            let result = pwrite(
                descriptor, bytes.baseAddress! + written, bytes.count - written, off_t(offset + written))
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { return false }
            written += result
        }
        return true
    }

    /// Writes zeros from `start` up to `end`: blocks allocated and written now, so that the
    /// lines written over them later change no file metadata.
    private static func writeZeros(_ descriptor: Int32, from start: Int, to end: Int) -> Bool {
        let zeros = [UInt8](repeating: 0, count: 64 << 10)
        return zeros.withUnsafeBytes { raw in
            var offset = start
            while offset < end {
                let count = min(raw.count, end - offset)
                guard writeAll(descriptor, UnsafeRawBufferPointer(rebasing: raw[..<count]), at: offset) else {
                    return false
                }
                offset += count
            }
            return true
        }
    }
}

/// One line of the journal: a `BindingChange` as the JSON `Codable` reads back, written
/// without an encoder (a third of a journalled REGISTER's time went to JSONEncoder).
enum JournalLine {
    /// Appends `change` and a line feed to `bytes`.
    static func append(_ change: BindingChange, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"pool":"#.utf8)
        string(change.pool, to: &bytes)
        bytes.append(contentsOf: #","aor":"#.utf8)
        string(change.aor, to: &bytes)
        bytes.append(contentsOf: #","bindings":["#.utf8)
        for (index, binding) in change.bindings.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: #"{"uri":"#.utf8)
            string(binding.uri, to: &bytes)
            bytes.append(contentsOf: #","expiresAt":"#.utf8)
            bytes.append(contentsOf: binding.expiresAt.isFinite ? binding.expiresAt.description.utf8 : "0".utf8)
            bytes.append(contentsOf: #","callID":"#.utf8)
            string(binding.callID, to: &bytes)
            bytes.append(contentsOf: #","cseq":"#.utf8)
            bytes.append(contentsOf: binding.cseq.description.utf8)
            if let q = binding.q {
                bytes.append(contentsOf: #","q":"#.utf8)
                string(q, to: &bytes)
            }
            bytes.append(contentsOf: binding.resiliency ? #","resiliency":true}"#.utf8 : #","resiliency":false}"#.utf8)
        }
        bytes.append(contentsOf: "]}\n".utf8)
    }

    /// A JSON string: quotes, backslashes and control characters escaped.
    static func string(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(hex.utf8Start[Int(byte >> 4)])
                bytes.append(hex.utf8Start[Int(byte & 0xf)])
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
