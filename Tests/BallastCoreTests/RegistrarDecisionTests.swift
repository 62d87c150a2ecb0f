import BallastCore
import Testing

/// The director and registrar roles as one pure decision, for every combination of where
/// the user is homed, which registrar they reached and which pools are lost.
struct RegistrarDecisionTests {
    let topology = Topology(pools: [
        Pool(name: "hq", backupPool: "dr", servers: []),
        Pool(name: "dr", backupPool: "hq", servers: []),
        Pool(name: "branch", servers: []),
        Pool(name: "nobody", servers: []),
    ])
    let settings = SIPSettings(
        realm: "lab.example",
        registrars: [
            .init(pool: "hq", listen: [], contact: "sip:hq"),
            .init(pool: "dr", listen: [], contact: "sip:dr"),
            .init(pool: "branch", listen: [], contact: "sip:branch"),
        ])

    func decide(home: String?, at served: String?, lost: Set<String> = []) -> RegistrarDecision {
        RegistrarDecision.decide(homePool: home, servedPool: served, settings: settings, topology: topology, lost: lost)
    }

    @Test func atHomeTheUserRegisters() {
        #expect(decide(home: "hq", at: "hq") == .register(resiliency: false))
        #expect(decide(home: "branch", at: "branch") == .register(resiliency: false))
        #expect(decide(home: "hq", at: "hq", lost: ["dr"]) == .register(resiliency: false))
    }

    @Test func elsewhereTheUserIsSentHomeThenToTheBackup() {
        let both: RegistrarDecision = .redirect([.init(uri: "sip:hq", q: "0.7"), .init(uri: "sip:dr", q: "0.3")])
        #expect(decide(home: "hq", at: "dr") == both)
        #expect(decide(home: "hq", at: "branch") == both)
        #expect(decide(home: "hq", at: nil) == both)
        #expect(decide(home: "branch", at: "hq") == .redirect([.init(uri: "sip:branch", q: "0.7")]))
    }

    @Test func aLostHomeIsServedByItsBackupInResiliencyMode() {
        #expect(decide(home: "hq", at: "dr", lost: ["hq"]) == .register(resiliency: true))
        #expect(decide(home: "hq", at: nil, lost: ["hq"]) == .redirect([.init(uri: "sip:dr", q: "0.7")]))
        #expect(decide(home: "hq", at: "branch", lost: ["hq"]) == .redirect([.init(uri: "sip:dr", q: "0.7")]))
        #expect(decide(home: "hq", at: "hq", lost: ["hq"]) == .redirect([.init(uri: "sip:dr", q: "0.7")]))
    }

    @Test func withNoUsableBackupTheUserStaysOrWaits() {
        #expect(decide(home: "hq", at: "dr", lost: ["hq", "dr"]) == .unavailable)
        #expect(decide(home: "hq", at: "hq", lost: ["hq", "dr"]) == .register(resiliency: false))
        #expect(decide(home: "branch", at: "hq", lost: ["branch"]) == .unavailable)
        #expect(decide(home: "branch", at: "branch", lost: ["branch"]) == .register(resiliency: false))
    }

    /// A redirect keeps the request's transport unless the configured contact names one; without a
    /// configured contact it names the registrar's listener of that transport.
    @Test func redirectsKeepTheRequestsTransport() {
        let named = SIPSettings.Registrar(pool: "hq", listen: [], contact: "sip:pool01.contoso.com")
        #expect(named.contact(for: .udp) == "sip:pool01.contoso.com")
        #expect(named.contact(for: .tcp) == "sip:pool01.contoso.com;transport=tcp")
        #expect(named.contact(for: .tls) == "sip:pool01.contoso.com;transport=tls")
        let fixed = SIPSettings.Registrar(pool: "hq", listen: [], contact: "sip:pool01.contoso.com:5061;Transport=TLS")
        #expect(fixed.contact(for: .tcp) == "sip:pool01.contoso.com:5061;Transport=TLS")
        let udp = SIPSettings.Listen(transport: .udp, endpoint: Endpoint("10.0.0.10:5060")!)
        let tcp = SIPSettings.Listen(transport: .tcp, endpoint: Endpoint("10.0.0.10:5060")!)
        let listening = SIPSettings.Registrar(pool: "hq", listen: [udp, tcp])
        #expect(listening.contact(for: .udp) == "sip:10.0.0.10:5060")
        #expect(listening.contact(for: .tcp) == "sip:10.0.0.10:5060;transport=tcp")
        #expect(listening.contact(for: .tls) == "sip:10.0.0.10:5060", "no TLS listener: the first one")
        let overTCP = RegistrarDecision.decide(
            homePool: "hq", servedPool: "dr", settings: settings, topology: topology, lost: [], transport: .tcp)
        #expect(
            overTCP
                == .redirect([
                    .init(uri: "sip:hq;transport=tcp", q: "0.7"), .init(uri: "sip:dr;transport=tcp", q: "0.3"),
                ]))
    }

    @Test func usersWithoutAHomeRegistrarAreNotHomed() {
        #expect(decide(home: nil, at: "hq") == .notHomed)
        #expect(decide(home: "nobody", at: "hq") == .notHomed)
        #expect(decide(home: "gone", at: "hq") == .notHomed)
    }
}
