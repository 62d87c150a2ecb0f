import BallastTestSupport
import Foundation
import Testing

/// NSD as a secondary of a Ballast zone: it transfers the zone by AXFR, is told of every
/// change by NOTIFY, and answers what Ballast answers.
@Suite(.serialized) struct DNSSecondaryTests {
    @Test func nsdTransfersTheZoneAndFollowsItsChanges() async throws {
        let nsdPort = Ports.free()
        let lab = try await DNSLab(secondaryPort: nsdPort)
        try await using(lab) { lab throws in
            let folder = lab.directory.path
            let config = """
                server:
                  ip-address: 127.0.0.1@\(nsdPort)
                  port: \(nsdPort)
                  username: ""
                  chroot: ""
                  zonesdir: "\(folder)"
                  zonelistfile: "\(folder)/zone.list"
                  database: ""
                  pidfile: "\(folder)/nsd.pid"
                  xfrdfile: "\(folder)/xfrd.state"
                  xfrdir: "\(folder)"
                  logfile: "\(folder)/nsd.log"
                  server-count: 1
                remote-control:
                  control-enable: no
                zone:
                  name: contoso.com
                  zonefile: "\(folder)/contoso.com.zone"
                  allow-notify: 127.0.0.1 NOKEY
                  request-xfr: AXFR 127.0.0.1@\(lab.port) NOKEY
                """
            try config.write(toFile: "\(folder)/nsd.conf", atomically: true, encoding: .utf8)
            let nsd = try PeerProcess("/usr/sbin/nsd", ["-d", "-c", "\(folder)/nsd.conf"])
            defer { nsd.stop() }
            func fromNSD(_ name: String, _ type: String = "A") -> [String] {
                (try? Dig.short(port: nsdPort, name, type)) ?? []
            }
            #expect(await eventually(timeout: .seconds(10)) { fromNSD("pool01.contoso.com").count == 3 })
            #expect(fromNSD("_sip._tls.contoso.com", "SRV") == (try lab.short("_sip._tls.contoso.com", "SRV")))
            #expect(fromNSD("contoso.com", "MX") == (try lab.short("contoso.com", "MX")))
            #expect(fromNSD("contoso.com", "SOA") == (try lab.short("contoso.com", "SOA")))

            await lab.backends[0].stop()
            #expect(
                await eventually(timeout: .seconds(10)) {
                    fromNSD("pool01.contoso.com") == ["127.0.0.32", "127.0.0.33"]
                })
            #expect(fromNSD("contoso.com", "SOA") == (try lab.short("contoso.com", "SOA")))
        }
    }
}
