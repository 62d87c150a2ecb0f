public import BallastCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The last directory a node applied, kept in a local file so that the node can start and serve
/// while the store is unreachable. Written whole to a temporary file, then renamed; readable by
/// its owner only (it holds credential hashes).
public struct DirectoryCache: Sendable {
    /// The file.
    public let path: String

    /// A cache at `path`.
    public init(path: String) { self.path = path }

    private struct Contents: Codable {
        var format: String
        var revision: UInt64
        var users: [DirectoryUser]
        var databases: [MailboxDatabase]
    }

    private static let format = "ballast-directory-cache-1"

    /// Writes `directory`.
    public func save(_ directory: Directory) throws {
        let contents = Contents(
            format: Self.format, revision: directory.revision, users: directory.users, databases: directory.allDatabases
        )
        let data = try JSONEncoder().encode(contents)
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600])
        else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: temporary])
        }
        guard rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    /// The saved directory, or nil when there is none or it is not a cache Ballast wrote.
    public func load() -> Directory? {
        guard let data = FileManager.default.contents(atPath: path),
            let contents = try? JSONDecoder().decode(Contents.self, from: data), contents.format == Self.format
        else { return nil }
        return Directory(users: contents.users, databases: contents.databases, revision: contents.revision)
    }
}
