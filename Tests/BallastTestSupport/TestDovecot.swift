import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A Dovecot IMAP server from Debian's dovecot-imapd, for one test: its own configuration, run
/// and state folders, users from a passwd-file with plain passwords, on a free loopback port;
/// it answers IMAP ID with its `name`. Stopped by its PID.
public final class TestDovecot {
    /// Its IMAP port on 127.0.0.1.
    public let port: Int
    /// The name it gives in ID answers.
    public let name: String
    private let folder: String
    private let server: PeerProcess

    /// Starts Dovecot named `name` for `users` (name to password); waits until it listens.
    public init(name: String, users: [String: String]) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/dovecot") else {
            throw PeerStartError("Dovecot is not installed: apt-get install dovecot-imapd (scripts/test.sh does)")
        }
        self.name = name
        port = Ports.free()
        folder = NSTemporaryDirectory() + "ballast-dovecot-\(name)-\(UUID().uuidString.prefix(8))"
        for part in ["run", "state", "mail"] {
            try FileManager.default.createDirectory(atPath: "\(folder)/\(part)", withIntermediateDirectories: true)
        }
        chmod(folder, 0o755)
        if let dovecot = getpwnam("dovecot") { chown("\(folder)/mail", dovecot.pointee.pw_uid, dovecot.pointee.pw_gid) }
        let passwd = users.sorted { $0.key < $1.key }.map { "\($0.key):{PLAIN}\($0.value)\n" }.joined()
        try passwd.write(toFile: "\(folder)/passwd", atomically: true, encoding: .utf8)
        chmod("\(folder)/passwd", 0o644)
        let config = """
            instance_name = \(name)-\(port)
            base_dir = \(folder)/run
            state_dir = \(folder)/state
            protocols = imap
            listen = 127.0.0.1
            ssl = no
            disable_plaintext_auth = no
            auth_mechanisms = plain login
            log_path = \(folder)/dovecot.log
            default_login_user = dovenull
            default_internal_user = dovecot
            imap_id_send = name "\(name)"
            mail_location = maildir:\(folder)/mail/%u
            first_valid_uid = 100
            passdb {
              driver = passwd-file
              args = \(folder)/passwd
            }
            userdb {
              driver = static
              args = uid=dovecot gid=dovecot home=\(folder)/mail/%u
            }
            service imap-login {
              inet_listener imap {
                address = 127.0.0.1
                port = \(port)
              }
              inet_listener imaps {
                port = 0
              }
            }
            service anvil {
              chroot =
            }

            """
        try config.write(toFile: "\(folder)/dovecot.conf", atomically: true, encoding: .utf8)
        server = try PeerProcess("/usr/sbin/dovecot", ["-F", "-c", "\(folder)/dovecot.conf"])
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? TestSocket(port: port, timeout: .milliseconds(200))) != nil { return }
            usleep(50_000)
        }
        throw PeerStartError("Dovecot \(name) did not listen on \(port) within 10 s: \(log)")
    }

    /// What it logged.
    public var log: String { (try? String(contentsOfFile: "\(folder)/dovecot.log", encoding: .utf8)) ?? "" }

    /// Stops it and removes its folder.
    public func stop() {
        server.stop()
        try? FileManager.default.removeItem(atPath: folder)
    }

    deinit { stop() }
}
