/// What a registrar does with an authenticated REGISTER: the director and registrar roles
/// of deployment D4 as one pure function of the user, the listener and the lost pools.
public enum RegistrarDecision: Hashable, Sendable {
    /// One Contact of a redirect.
    public struct Target: Hashable, Sendable {
        /// The registrar's URI.
        public var uri: String
        /// Its preference, as written (`0.7`).
        public var q: String

        /// A target.
        public init(uri: String, q: String) {
            self.uri = uri
            self.q = q
        }
    }

    /// Register the user here; `resiliency` when this is the backup serving a lost home.
    case register(resiliency: Bool)
    /// `301 Redirect request to Home Server` with these contacts, in order.
    case redirect([Target])
    /// The user has no home pool with a registrar: 404.
    case notHomed
    /// The home pool is lost and no backup registrar can take its users: 480.
    case unavailable

    /// Decides for a user homed at `homePool` who reached the registrar of `servedPool`
    /// (nil for a director-only listener); `backupOf` names a pool's backup pool.
    ///
    /// - At home, while the home pool is not lost: register.
    /// - At the backup of a lost home: register in resiliency mode.
    /// - Elsewhere: redirect home first (q=0.7), backup second (q=0.3), the form Lync clients
    ///   expect; once the home pool is lost, only the backup is named.
    ///
    /// Redirect contacts keep the request's `transport` (see `SIPSettings.Registrar.contact(for:)`).
    public static func decide(
        homePool: String?, servedPool: String?, settings: SIPSettings, backupOf: (String) -> String?,
        lost: Set<String>, transport: SIPSettings.Transport = .udp
    ) -> RegistrarDecision {
        guard let homePool, let home = settings.registrar(of: homePool) else { return .notHomed }
        let backup = backupOf(homePool).flatMap { settings.registrar(of: $0) }
        let homeLost = lost.contains(homePool)
        let backupUsable = backup.map { !lost.contains($0.pool) } ?? false
        if servedPool == homePool {
            guard homeLost, backupUsable, let backup else { return .register(resiliency: false) }
            return .redirect([Target(uri: backup.contact(for: transport), q: "0.7")])
        }
        if homeLost {
            guard backupUsable, let backup else { return .unavailable }
            if servedPool == backup.pool { return .register(resiliency: true) }
            return .redirect([Target(uri: backup.contact(for: transport), q: "0.7")])
        }
        var targets = [Target(uri: home.contact(for: transport), q: "0.7")]
        if let backup { targets.append(Target(uri: backup.contact(for: transport), q: "0.3")) }
        return .redirect(targets)
    }
}

extension RegistrarDecision {
    /// Decides with the backup pools of `topology`.
    public static func decide(
        homePool: String?, servedPool: String?, settings: SIPSettings, topology: Topology, lost: Set<String>,
        transport: SIPSettings.Transport = .udp
    ) -> RegistrarDecision {
        decide(
            homePool: homePool, servedPool: servedPool, settings: settings,
            backupOf: { topology.pool(named: $0)?.backupPool }, lost: lost, transport: transport)
    }
}
