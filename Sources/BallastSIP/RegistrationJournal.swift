import BallastCore
import BallastSIPRegistrar
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps bindings across restarts: an append-only file of JSON lines, one per change of an
/// address of record (its whole binding list).
///
/// One thread writes it, with group commit: every change submitted while the last batch was
/// being written goes out in one write and one `fdatasync`, and each submitter hears back once
/// its batch is on disk (the registrar's 200 waits for that, never a lock or an engine
/// thread). The same thread compacts the file when it has grown past twice what is live.
final class RegistrationJournal: Sendable {
    /// Told whether the changes are on disk.
    typealias Completion = @Sendable (_ saved: Bool) -> Void

    private struct Queue {
        var changes: [BindingChange] = []
        var completions: [Completion] = []
        var closing = false
    }

    /// What only the writer thread touches (behind a lock it never waits for).
    private struct File {
        var descriptor: Int32
        var linesWritten = 0
        /// What the file holds, by pool and address of record, for compaction.
        var live: [String: [String: [Binding]]]
        var liveCount: Int
    }

    let path: String
    private let queue = Mutex(Queue())
    /// Run on the writer thread after the completions of each batch (to send their answers together).
    private let afterBatch = Mutex<[@Sendable () -> Void]>([])
    private let file: Mutex<File>
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    private init(path: String, descriptor: Int32, live: [String: Registrations]) {
        self.path = path
        var mirror: [String: [String: [Binding]]] = [:]
        var count = 0
        for (pool, table) in live {
            mirror[pool] = table.bindings
            count += table.bindings.values.reduce(0) { $0 + $1.count }
        }
        file = Mutex(File(descriptor: descriptor, live: mirror, liveCount: count))
        let thread = Thread { [self] in run() }
        thread.name = "ballast-bindings-journal"
        thread.start()
    }

    /// Opens the journal at `path` (compacted, lapsed bindings dropped) and returns it with
    /// the bindings it holds.
    static func open(path: String, now: Double) throws(SIPEdgeError) -> (RegistrationJournal, [String: Registrations]) {
        let manager = FileManager.default
        let folder = (path as NSString).deletingLastPathComponent
        var registrations: [String: Registrations] = [:]
        do {
            if !folder.isEmpty { try manager.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            if let data = manager.contents(atPath: path) {
                let decoder = JSONDecoder()
                for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                    // A line cut short by a crash is the last one; what came before it stands.
                    guard let entry = try? decoder.decode(BindingChange.self, from: Data(line)) else { continue }
                    registrations[entry.pool, default: Registrations()].replace(entry.aor, with: entry.bindings)
                }
            }
            for pool in registrations.keys { registrations[pool]?.removeExpired(at: now) }
            try write(registrations.mapValues(\.bindings), to: path)
            let descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw SIPEdgeError(description: "\(path) cannot be opened for writing (\(String(cString: strerror(errno))))")
            }
            return (RegistrationJournal(path: path, descriptor: descriptor, live: registrations), registrations)
        } catch let error as SIPEdgeError {
            throw SIPEdgeError(
                description: "the registrations file cannot be used: \(error.description); check sip.registrations-file and its folder's permissions")
        } catch {
            throw SIPEdgeError(
                description:
                    "the registrations file \(path) cannot be read or written (\(error)); check sip.registrations-file and its folder's permissions"
            )
        }
    }

    /// Queues `changes` for the next batch; `completion` runs on the writer thread once the
    /// batch is on disk (or could not be written). After `close` it runs at once, unsaved.
    func submit(_ changes: [BindingChange], completion: Completion? = nil) {
        let (accepted, first) = queue.withLock { queue -> (Bool, Bool) in
            guard !queue.closing else { return (false, false) }
            let first = queue.changes.isEmpty && queue.completions.isEmpty
            queue.changes += changes
            if let completion { queue.completions.append(completion) }
            return (true, first)
        }
        guard accepted else {
            completion?(false)
            return
        }
        if first { wake.signal() }
    }

    /// Runs `observer` on the writer thread after the completions of every batch.
    func afterEachBatch(_ observer: @escaping @Sendable () -> Void) {
        afterBatch.withLock { $0.append(observer) }
    }

    /// Writes what is queued, stops the writer and closes the file.
    func close() {
        let first = queue.withLock { queue -> Bool in
            guard !queue.closing else { return false }
            queue.closing = true
            return true
        }
        guard first else { return }
        wake.signal()
        done.wait()
        file.withLock { _ = Glibc.close($0.descriptor) }
    }

    private func run() {
        while true {
            wake.wait()
            let (changes, completions, closing) = queue.withLock { queue in
                defer {
                    queue.changes = []
                    queue.completions = []
                }
                return (queue.changes, queue.completions, queue.closing)
            }
            if !changes.isEmpty || !completions.isEmpty {
                let saved = file.withLock { file in Self.append(changes, to: &file, path: path) }
                for completion in completions { completion(saved) }
                for observer in afterBatch.withLock({ $0 }) { observer() }
            }
            if closing { break }
        }
        done.signal()
    }

    /// One write and one fdatasync for the whole batch; then compaction, when due.
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
        var written = 0
        let saved = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let result = Glibc.write(file.descriptor, raw.baseAddress! + written, raw.count - written)
                if result < 0 && errno == EINTR { continue }
                guard result > 0 else { return false }
                written += result
            }
            return fdatasync(file.descriptor) == 0
        }
        file.linesWritten += changes.count
        if file.linesWritten > 1000 && file.linesWritten > 2 * file.liveCount {
            compact(&file, path: path)
        }
        return saved
    }

    /// Rewrites the file with only what is live; on failure the longer file stays.
    private static func compact(_ file: inout File, path: String) {
        do {
            try write(file.live, to: path)
        } catch {
            return
        }
        let reopened = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard reopened >= 0 else { return }
        _ = Glibc.close(file.descriptor)
        file.descriptor = reopened
        file.linesWritten = 0
    }

    /// Writes `live` to a new file, synced, and renames it over `path`.
    private static func write(_ live: [String: [String: [Binding]]], to path: String) throws {
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
        let complete = data.withUnsafeBytes { raw -> Bool in
            var written = 0
            while written < raw.count {
                let result = Glibc.write(descriptor, raw.baseAddress! + written, raw.count - written)
                if result < 0 && errno == EINTR { continue }
                guard result > 0 else { return false }
                written += result
            }
            return fsync(descriptor) == 0
        }
        guard complete else { throw SIPEdgeError(description: "\(temporary) cannot be written") }
        guard rename(temporary, path) == 0 else { throw SIPEdgeError(description: "\(temporary) cannot be renamed to \(path)") }
    }
}

/// One line of the journal: a `BindingChange` as the JSON `Codable` reads back, written
/// without an encoder (a third of a journalled REGISTER's time went to JSONEncoder).
enum JournalLine {
    /// Appends `change` and a line feed to `bytes`.
    static func append(_ change: BindingChange, to bytes: inout [UInt8]) {
        bytes += Array(#"{"pool":"#.utf8)
        string(change.pool, to: &bytes)
        bytes += Array(#","aor":"#.utf8)
        string(change.aor, to: &bytes)
        bytes += Array(#","bindings":["#.utf8)
        for (index, binding) in change.bindings.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes += Array(#"{"uri":"#.utf8)
            string(binding.uri, to: &bytes)
            bytes += Array(#","expiresAt":"#.utf8)
            bytes += Array(binding.expiresAt.isFinite ? "\(binding.expiresAt)".utf8 : "0".utf8)
            bytes += Array(#","callID":"#.utf8)
            string(binding.callID, to: &bytes)
            bytes += Array(",\"cseq\":\(binding.cseq)".utf8)
            if let q = binding.q {
                bytes += Array(#","q":"#.utf8)
                string(q, to: &bytes)
            }
            bytes += Array(",\"resiliency\":\(binding.resiliency)}".utf8)
        }
        bytes += Array("]}\n".utf8)
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
                let hex = Array("0123456789abcdef".utf8)
                bytes += Array("\\u00".utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xf)])
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
