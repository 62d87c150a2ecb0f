import BallastTestSupport
import Foundation
import Testing

/// Automatic site failover needs a witness at a third location that agrees: the real binary
/// with a witness config, `ballast witness` as the witness, sample SIP front ends as the sites.
@Suite(.serialized) struct WitnessTests {
    @Test func aSiteFailsOverByItselfOnlyWhenTheWitnessAgrees() async throws {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let fe = Ports.freeForTCPAndUDP()
        let witnessPort = Ports.free()
        let other = Ports.free()
        var peers: [String: PeerProcess] = [:]
        defer { for peer in peers.values { peer.stop() } }
        func start(_ name: String, _ arguments: [String]) throws {
            peers[name] = try PeerProcess(BallastProcess.binary.path, arguments)
        }
        try start("fe-hq", ["sample-server", "--sip", "--listen", "127.0.1.1:\(fe)", "--name", "fe-hq"])
        try start("fe-dr", ["sample-server", "--sip", "--listen", "127.0.2.1:\(fe)", "--name", "fe-dr"])
        // What the witness sees of hq: another of its servers, which still answers at first.
        try start("hq-web", ["sample-server", "--listen", "127.0.1.2:\(other)", "--name", "hq-web"])
        try start(
            "witness",
            [
                "witness", "--listen", "127.0.0.1:\(witnessPort)", "--probe", "hq=127.0.1.2:\(other)", "--probe",
                "dr=127.0.2.1:\(fe)",
            ])
        let config = """
            sites: {hq: {hold-down: 0s}, dr: {hold-down: 0s}}
            checks:
              sip: {type: sip-options, interval: 200ms, timeout: 150ms, rise: 1, fall: 2}
            pools:
              pool-hq: {site: hq, backup-pool: pool-dr, check: sip, servers: [{name: fe-hq, address: 127.0.1.1:\(fe)}]}
              pool-dr: {site: dr, backup-pool: pool-hq, check: sip, servers: [{name: fe-dr, address: 127.0.2.1:\(fe)}]}
            store: {location: \(folder.path)/directory.db, realm: contoso.com}
            witness: {listen: 127.0.0.1:\(witnessPort), automatic-after: 1s}
            """
        let written = try BallastProcess.writeConfig(
            config, importing: "sip-uri,password,home-pool\nsip:alice@contoso.com,pw,pool-hq\n", in: folder)
        #expect(written.failedImport == nil, "\(written.failedImport.map { $0.stderr } ?? "")")
        let configPath = written.path
        func plan() throws -> String { try BallastProcess.run(["plan", "show", "--direct", "-c", configPath]).stdout }

        try await withBallast(config: config) { ballast in
            // Both front ends seen up first: a site is lost only once it has been seen.
            #expect(
                await eventually(timeout: .seconds(10)) {
                    ballast.log.components(separatedBy: "server is up").count > 2
                }, "\(ballast.log)")
            peers["fe-hq"]?.stop()
            // hq's pool is down, but the witness still reaches hq: nothing happens by itself.
            #expect(
                await eventually(timeout: .seconds(10)) { ballast.log.contains("the witness reaches it") },
                "\(ballast.log)")
            #expect(!(try plan()).contains("failover-hq"), "\(ballast.log)")
            // Now the witness cannot reach hq either: the node fails hq over by itself.
            peers["hq-web"]?.stop()
            #expect(
                await eventually(timeout: .seconds(10)) { (try? plan())?.contains(": applied") == true },
                "\(ballast.log)")
            let export = try BallastProcess.run(["users", "export", "--format", "csv", "-c", configPath]).stdout
            #expect(export.contains(",pool-dr,"), "\(export)")
            #expect(ballast.log.contains("the witness agrees"))
        }
    }
}
