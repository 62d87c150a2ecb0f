import ArgumentParser
import BallastConfig
import BallastCore
import BallastDNS

/// `ballast check -c FILE`: validates a config and prints every error, not just the first.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file; each error names file, line, key and the expected form.")

    @OptionGroup var options: ConfigOption

    @Flag(name: .shortAndLong, help: "Print nothing when the config is valid.")
    var quiet = false

    func run() throws {
        let topology: Topology
        do {
            topology = try ConfigLoader.load(path: options.config)
        } catch {
            for problem in error.errors { printError("error: \(problem)") }
            printError(
                "\(options.config): \(error.errors.count) error\(error.errors.count == 1 ? "" : "s"); nothing was applied"
            )
            throw ExitCode(1)
        }
        var directory = Directory()
        if let sip = topology.sip, topology.store == nil {
            do {
                directory = try UsersFileReader.load(settings: sip, topology: topology)
            } catch {
                for problem in error.errors { printError("error: \(problem)") }
                printError("\(sip.usersFile ?? options.config): \(error.errors.count) error(s); nothing was applied")
                throw ExitCode(1)
            }
        }
        guard !quiet else { return }
        let servers = topology.pools.reduce(0) { $0 + $1.servers.count }
        print(
            "\(options.config): ok: \(counted(topology.sites.count, "site")), \(counted(topology.pools.count, "pool")), \(counted(servers, "server")), \(counted(topology.relays.count, "relay"))"
        )
        for relay in topology.relays {
            var line =
                "  relay \(relay.name): \(relay.protocol.rawValue) \(relay.listen) -> pool \(relay.pool), "
                + (relay.mail != nil || relay.http?.userRouting != nil ? "by directory" : relay.mode.rawValue)
            switch relay.persistence {
            case .sourceAddress(let timeout, let size): line += ", source affinity \(timeout.configText) x \(size)"
            case .cookie(let cookie): line += ", cookie \(cookie.name)"
            case .none: break
            }
            switch relay.kind {
            case .https(let http): line += ", \(http.certificates.count) certificate(s)"
            case .mail(let mail):
                line += " (server port \(relay.forwardPort ?? 0))"
                if !mail.implicitTLS && !mail.certificates.isEmpty { line += ", STARTTLS" }
            case .tcp, .http: break
            }
            switch relay.http?.userRouting {
            case .basic: line += ", user from HTTP Basic"
            case .header(let name): line += ", user from \(name)"
            case nil: break
            }
            if let tls = relay.http?.serverTLS {
                line += tls.verify ? ", TLS to servers (verified)" : ", TLS to servers (not verified)"
            }
            print(line)
        }
        for pool in topology.pools {
            let check =
                pool.check.map { " check every \($0.interval.configText), rise \($0.rise), fall \($0.fall)" }
                ?? " no check"
            print(
                "  pool \(pool.name)\(pool.site.map { " at \($0)" } ?? ""): \(counted(pool.servers.count, "server")),\(check)"
            )
        }
        for zone in topology.zones {
            let bound = zone.records.filter {
                switch $0.value {
                case .pool: return true
                case .srv(_, _, _, _, let pool): return pool != nil
                default: return false
                }
            }.count
            let listen = topology.dns.listeners.map(\.description).joined(separator: ", ")
            let sockets = topology.dns.udpSockets ?? DNSServer.defaultUDPSockets
            print(
                "  zone \(zone.name): \(counted(zone.records.count, "record")), \(bound) following pool health; DNS on \(listen) (\(sockets) UDP socket\(sockets == 1 ? "" : "s") each)"
            )
        }
        if let store = topology.store {
            let kind = StoreSettings.isPostgres(store.location) ? "PostgreSQL" : "SQLite"
            print(
                "  store: \(kind) \(store.location), realm \(store.realm), polled every \(store.pollInterval.configText)"
            )
            for standby in store.standbys {
                print("    standby \(standby): read while the primary is lost, promoted by a failover plan")
            }
        }
        if let sip = topology.sip {
            let users = topology.store == nil ? counted(directory.usersByURI.count, "user") : "users from the store"
            print(
                "  sip realm \(sip.realm): \(users), failure detection \(sip.failureDetection.configText), fallback \(sip.fallback.configText)"
            )
            for registrar in sip.registrars {
                let listen =
                    registrar.listen.isEmpty
                    ? "not served here" : registrar.listen.map(\.description).joined(separator: ", ")
                print(
                    "  registrar of \(registrar.pool): \(listen); redirects name \(registrar.contact(for: .udp)) (over UDP)"
                )
            }
            if !sip.director.isEmpty {
                print("  director: \(sip.director.map(\.description).joined(separator: ", "))")
            }
        }
    }
}
