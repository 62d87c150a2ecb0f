import BallastCore
import Foundation

/// Keeps bindings across restarts until the store holds them: an append-only file of JSON
/// lines, one per change of an address of record (its whole binding list), written before
/// the 200 goes out and compacted at start and whenever it grows past twice what is live.
final class RegistrationJournal {
    private struct Entry: Codable {
        var pool: String
        var aor: String
        var bindings: [Binding]
    }

    let path: String
    private var handle: FileHandle
    private var linesWritten = 0
    private let encoder = JSONEncoder()

    private init(path: String, handle: FileHandle) {
        self.path = path
        self.handle = handle
    }

    /// Opens the journal at `path` and returns it with the bindings it holds.
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
                    guard let entry = try? decoder.decode(Entry.self, from: Data(line)) else { continue }
                    registrations[entry.pool, default: Registrations()].replace(entry.aor, with: entry.bindings)
                }
            }
            for pool in registrations.keys { registrations[pool]?.removeExpired(at: now) }
            try write(registrations, to: path)
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw SIPEdgeError(description: "\(path) cannot be opened for writing")
            }
            try handle.seekToEnd()
            return (RegistrationJournal(path: path, handle: handle), registrations)
        } catch let error as SIPEdgeError {
            throw error
        } catch {
            throw SIPEdgeError(
                description:
                    "the registrations file \(path) cannot be read or written (\(error)); check sip.registrations-file and its folder's permissions"
            )
        }
    }

    /// Appends the new binding list of `aor` at the registrar of `pool`; compacts when the
    /// file has grown.
    func record(pool: String, _ aor: String, _ bindings: [Binding], all registrations: [String: Registrations]) throws {
        var line = try encoder.encode(Entry(pool: pool, aor: aor, bindings: bindings))
        line.append(UInt8(ascii: "\n"))
        try handle.write(contentsOf: line)
        linesWritten += 1
        let live = registrations.values.reduce(0) { $0 + $1.bindings.count }
        if linesWritten > 1000 && linesWritten > 2 * live {
            try compact(registrations)
        }
    }

    /// Rewrites the file with only what is live.
    func compact(_ registrations: [String: Registrations]) throws {
        try handle.close()
        try Self.write(registrations, to: path)
        guard let reopened = FileHandle(forWritingAtPath: path) else {
            throw SIPEdgeError(description: "\(path) cannot be reopened for writing")
        }
        try reopened.seekToEnd()
        handle = reopened
        linesWritten = 0
    }

    func close() { try? handle.close() }

    private static func write(_ registrations: [String: Registrations], to path: String) throws {
        let encoder = JSONEncoder()
        var data = Data()
        for (pool, table) in registrations.sorted(by: { $0.key < $1.key }) {
            for (aor, bindings) in table.bindings.sorted(by: { $0.key < $1.key }) {
                data.append(try encoder.encode(Entry(pool: pool, aor: aor, bindings: bindings)))
                data.append(UInt8(ascii: "\n"))
            }
        }
        // Contacts and addresses of every phone: readable by Ballast's user only.
        let temporary = path + ".tmp"
        unlink(temporary)
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw SIPEdgeError(description: "\(temporary) cannot be created")
        }
        _ = rename(temporary, path)
    }
}
