import BallastConfig
import BallastCore
import Foundation
import Testing

/// Every config in examples/ must load: they are the deployments of DESIGN.md.
@Suite struct ExampleConfigTests {
    static let examples: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples")

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? []).filter { $0.hasSuffix(".yaml") }
            .sorted()
    }

    @Test func thereAreExamples() {
        #expect(Self.files.contains("exchange-2010-cas.yaml"))
    }

    @Test(arguments: files)
    func loads(file: String) throws {
        _ = try ConfigLoader.load(path: Self.examples.appendingPathComponent(file).path)
    }

    @Test func exchange2010CASIsDeploymentD2() throws {
        let topology = try ConfigLoader.load(path: Self.examples.appendingPathComponent("exchange-2010-cas.yaml").path)
        #expect(Set(topology.relays.map(\.listen.port)) == [443, 110, 995, 143, 993, 135, 59532, 59533])
        #expect(topology.relays.allSatisfy { $0.mode == .sourceHash && $0.protocol == .tcp && $0.pool == "cas" })
        let pool = try #require(topology.pool(named: "cas"))
        guard case .tcp = pool.check?.kind else {
            Issue.record("D2 uses a TCP check")
            return
        }
        // Each relay's port is checked on every CAS.
        #expect(topology.probes.count == 8 * pool.servers.count)
    }
}
