public import BallastCore
import BallastMail
import Foundation
public import NIOCore

/// The two-site demo lab on loopback: site hq at 127.0.1.x, site dr at 127.0.2.x, Ballast's
/// listeners at 127.0.0.1. Web servers behind an HTTPS relay, SIP front ends behind registrars
/// and a director, IMAP mailbox servers behind a directory-aware IMAP relay, DNS for contoso.com,
/// a SQLite directory with three users, and the admin listener with the dashboard.
public struct DemoLab: Sendable {
    /// Every port is this plus a small offset, so that several labs can run side by side.
    public let basePort: Int
    /// Where the config, certificates, store and backups live.
    public let folder: String
    /// The admin API's bearer token.
    public let token: String

    /// A lab on ports from `basePort` in `folder`.
    public init(basePort: Int, folder: String, token: String) {
        self.basePort = basePort
        self.folder = folder
        self.token = token
    }

    /// The ports, by what listens there.
    public var ports: [String: Int] {
        [
            "admin": basePort, "dns": basePort + 53, "https": basePort + 443, "imap": basePort + 143,
            "imaps": basePort + 993, "director": basePort + 60, "registrar": basePort + 61, "web": basePort + 80,
            "frontend": basePort + 62, "mailbox": basePort + 144,
        ]
    }

    /// The lab's users: name, home pool, mailbox database, contacts. Passwords are NAME-demo.
    public static let users: [(name: String, home: String, database: String, contacts: [String])] = [
        ("alice", "pool-hq", "DB01", ["sip:bob@contoso.com", "sip:carol@contoso.com"]),
        ("bob", "pool-dr", "DB02", ["sip:alice@contoso.com"]),
        ("carol", "pool-hq", "DB01", ["sip:alice@contoso.com"]),
    ]

    /// The lab's databases.
    public static let databases = [
        MailboxDatabase(name: "DB01", copies: ["EX1", "EX3"], active: "EX1"),
        MailboxDatabase(name: "DB02", copies: ["EX3", "EX1"], active: "EX3"),
    ]

    /// The config file's text.
    public var config: String {
        let p = ports
        return """
            # The Ballast demo lab: two sites on loopback. Written by `ballast demo`.
            admin: {listen: 127.0.0.1:\(p["admin"]!), token: \(token)}
            sites: {hq: {hold-down: 0s}, dr: {hold-down: 0s}}
            checks:
              web: {type: http, path: /, interval: 1s, timeout: 500ms, rise: 2, fall: 2}
              sip: {type: sip-options, interval: 500ms, timeout: 400ms, rise: 2, fall: 2}
              imap: {type: tcp, interval: 1s, timeout: 500ms, rise: 2, fall: 2}
            pools:
              web:
                check: web
                servers:
                  - {name: web-hq1, address: 127.0.1.1:\(p["web"]!), site: hq}
                  - {name: web-hq2, address: 127.0.1.2:\(p["web"]!), site: hq}
                  - {name: web-dr1, address: 127.0.2.1:\(p["web"]!), site: dr, backup: true}
              pool-hq: {site: hq, backup-pool: pool-dr, check: sip, servers: [{name: fe-hq, address: 127.0.1.1:\(p["frontend"]!)}]}
              pool-dr: {site: dr, backup-pool: pool-hq, check: sip, servers: [{name: fe-dr, address: 127.0.2.1:\(p["frontend"]!)}]}
              mailbox:
                check: imap
                servers:
                  - {name: EX1, address: 127.0.1.1:\(p["mailbox"]!), site: hq}
                  - {name: EX3, address: 127.0.2.1:\(p["mailbox"]!), site: dr}
            relays:
              webext:
                listen: 127.0.0.1:\(p["https"]!)
                protocol: https
                pool: web
                forward-port: \(p["web"]!)
                max-connections: 1000
                certificates: [{certificate: certs/server.pem, key: certs/server.key}]
              imap: {listen: 127.0.0.1:\(p["imap"]!), protocol: imap, pool: mailbox, max-connections: 1000, certificates: [{certificate: certs/server.pem, key: certs/server.key}]}
              imaps: {listen: 127.0.0.1:\(p["imaps"]!), protocol: imaps, pool: mailbox, max-connections: 1000, certificates: [{certificate: certs/server.pem, key: certs/server.key}]}
            dns: {listen: [127.0.0.1:\(p["dns"]!)]}
            zones:
              contoso.com:
                ttl: 30
                soa: {primary: ns1.contoso.com, mailbox: hostmaster.contoso.com, minimum: 10}
                records:
                  - {name: "@", type: NS, value: ns1}
                  - {name: ns1, type: A, value: 127.0.0.1}
                  - {name: pool01, type: A, pool: pool-hq, ttl: 10}
                  - {name: pool02, type: A, pool: pool-dr, ttl: 10}
                  - {name: _sipinternaltls._tcp, type: SRV, priority: 0, weight: 10, port: 5061, target: pool01, pool: pool-hq, ttl: 10}
                  - {name: _sipinternaltls._tcp, type: SRV, priority: 10, weight: 10, port: 5061, target: pool02, pool: pool-dr, ttl: 10}
                  - {name: webext, type: A, value: 127.0.0.1}
                  - {name: mail, type: A, value: 127.0.0.1}
            sip:
              realm: contoso.com
              failure-detection: 2s
              fallback: 10s
              registrars:
                pool-hq: {listen: [udp://127.0.1.10:\(p["registrar"]!), tcp://127.0.1.10:\(p["registrar"]!)]}
                pool-dr: {listen: [udp://127.0.2.10:\(p["registrar"]!), tcp://127.0.2.10:\(p["registrar"]!)]}
              director: {listen: [udp://127.0.0.1:\(p["director"]!)]}
            store: {location: directory.db, poll-interval: 250ms, failure-delay: 500ms}
            backup: {folder: backups, every: 1h}

            """
    }

    /// The stand-in servers of both sites, running.
    public final class Servers: Sendable {
        let web: [StandInWebServer]
        let frontEnds: [StandInFrontEnd]
        let mailboxes: [StandInMailServer]

        init(web: [StandInWebServer], frontEnds: [StandInFrontEnd], mailboxes: [StandInMailServer]) {
            self.web = web
            self.frontEnds = frontEnds
            self.mailboxes = mailboxes
        }

        /// Stops them all.
        public func stop() async {
            for server in web { await server.stop() }
            for server in frontEnds { await server.stop() }
            for server in mailboxes { await server.stop() }
        }
    }

    /// Starts every stand-in server of both sites on `group`.
    public func startServers(group: any EventLoopGroup) async throws -> Servers {
        let p = ports
        var web: [StandInWebServer] = []
        for (host, name) in [("127.0.1.1", "web-hq1"), ("127.0.1.2", "web-hq2"), ("127.0.2.1", "web-dr1")] {
            web.append(try await StandInWebServer.start(host: host, port: p["web"]!, name: name, group: group))
        }
        var frontEnds: [StandInFrontEnd] = []
        for (host, name) in [("127.0.1.1", "fe-hq"), ("127.0.2.1", "fe-dr")] {
            frontEnds.append(
                try await StandInFrontEnd.start(host: host, port: p["frontend"]!, name: name, group: group))
        }
        var mailboxes: [StandInMailServer] = []
        for (host, name) in [("127.0.1.1", "EX1"), ("127.0.2.1", "EX3")] {
            mailboxes.append(
                try await StandInMailServer.start(
                    host: host, port: p["mailbox"]!, name: name, pop3: false, group: group))
        }
        return Servers(web: web, frontEnds: frontEnds, mailboxes: mailboxes)
    }

    /// What to try, printed when the lab is up.
    public func instructions(binary: String) -> String {
        let p = ports
        let config = "\(folder)/ballast.yaml"
        return """

            Ballast demo lab is up: two sites on loopback (hq at 127.0.1.x, dr at 127.0.2.x).

              dashboard   http://127.0.0.1:\(p["admin"]!)/?token=\(token)
              config      \(config)   (users: alice, bob, carol; passwords NAME-demo)

            Try, in another terminal:

              dig @127.0.0.1 -p \(p["dns"]!) +short _sipinternaltls._tcp.contoso.com SRV   # hq's pool first, dr's second
              curl -sk https://127.0.0.1:\(p["https"]!)/                                     # web-hq1, web-hq2, ...
              curl -s -u alice:alice-demo imap://127.0.0.1:\(p["imap"]!)/ -X 'ID NIL'        # alice's mailbox is on EX1 (hq)
              sipsak -U -s sip:alice@127.0.1.10:\(p["registrar"]!) -u alice -a alice-demo -x 600 -i -vv -C sip:alice@127.0.0.1:7001
              \(binary) status --admin 127.0.0.1:\(p["admin"]!) --token \(token)

            Lose site hq and bring it back, as one plan each:

              \(binary) plan failover --site hq -c \(config)
              \(binary) apply -c \(config)                    # watch the dashboard: hq fenced, users homed at dr
              dig @127.0.0.1 -p \(p["dns"]!) +short _sipinternaltls._tcp.contoso.com SRV   # only dr now
              curl -s -u alice:alice-demo imap://127.0.0.1:\(p["imap"]!)/ -X 'ID NIL'        # EX3 (dr)
              curl -sk https://127.0.0.1:\(p["https"]!)/                                     # web-dr1: hq's servers are fenced
              \(binary) plan failback --site hq -c \(config) && \(binary) apply -c \(config)

            Ctrl-C stops the lab.

            """
    }
}
