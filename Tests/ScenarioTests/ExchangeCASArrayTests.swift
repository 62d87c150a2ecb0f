import BallastTestSupport
import Foundation
import Testing

/// Deployment D2 end to end: the example config itself, moved onto loopback (the VIP
/// becomes 127.0.0.10, the CAS servers 127.0.0.11-13, and each port a free one), in front
/// of real servers on every port of every CAS.
@Suite(.serialized) struct ExchangeCASArrayTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/exchange-2010-cas.yaml")

    /// The example with loopback addresses, the given ports and a faster check.
    static func loopbackConfig(ports: [Int], adminPort: Int, dnsPort: Int = Ports.free()) throws -> String {
        var text = try String(contentsOf: example, encoding: .utf8)
        text = text.replacingOccurrences(of: "10.0.0.53:53", with: "127.0.0.1:\(dnsPort)")
        // The hub servers become loopback addresses where nothing listens: checks are refused, never sent off the machine.
        text = text.replacingOccurrences(of: "[10.0.0.21, 10.0.0.22]", with: "[127.0.0.71, 127.0.0.72]")
        text = text.replacingOccurrences(of: "listen: 10.0.0.10", with: "listen: 127.0.0.10")
        text = text.replacingOccurrences(
            of: "[10.0.0.11, 10.0.0.12, 10.0.0.13]", with: "[127.0.0.11, 127.0.0.12, 127.0.0.13]")
        text = text.replacingOccurrences(of: "listen: 127.0.0.1:9900", with: "listen: 127.0.0.1:\(adminPort)")
        text = text.replacingOccurrences(of: "interval: 2s", with: "interval: 200ms")
        text = text.replacingOccurrences(of: "timeout: 1s", with: "timeout: 150ms")
        let originals = [443, 110, 995, 143, 993, 135, 59532, 59533]
        var lines = text.components(separatedBy: "\n")
        for (index, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            for (original, port) in zip(originals, ports)
            where trimmed.hasPrefix("- \(original) ") || trimmed == "- \(original)" {
                lines[index] = line.replacingOccurrences(of: "- \(original)", with: "- \(port)")
            }
        }
        return lines.joined(separator: "\n")
    }

    @Test func everyPortRelaysBySourceAndEachPortHasItsOwnHealth() async throws {
        let ports = (0..<8).map { _ in Ports.free() }
        var backends: [String: TestBackend] = [:]
        for server in 11...13 {
            for port in ports {
                backends["\(server):\(port)"] = try await TestBackend.start(
                    name: "cas\(server - 10)", host: "127.0.0.\(server)", port: port)
            }
        }
        let started = Array(backends.values)
        try await using(started) { _ throws in
            let dnsPort = Ports.free()
            let config = try Self.loopbackConfig(ports: ports, adminPort: Ports.free(), dnsPort: dnsPort)
            try await withBallast(config: config) { ballast in
                for port in ports {
                    #expect(
                        await eventually(timeout: .seconds(20)) {
                            (try? TestSocket(port: port, destination: "127.0.0.10")) != nil
                        })
                }
                // source-hash: each client address sticks to one CAS on every port.
                let clients = (20..<60).map { "127.0.0.\($0)" }
                func casFor(_ client: String, _ port: Int) throws -> String? {
                    let socket = try TestSocket(port: port, source: client, destination: "127.0.0.10")
                    return try socket.readLine()
                }
                var home: [String: String] = [:]
                for client in clients { home[client] = try casFor(client, ports[0]) }
                #expect(Set(home.values) == ["cas1", "cas2", "cas3"])
                for client in clients.prefix(10) {
                    for port in ports { #expect(try casFor(client, port) == home[client]) }
                }

                // POP3 dies on cas2 only: relay cas-110 stops using cas2; HTTPS still does.
                let pop3 = ports[1]
                await backends["12:\(pop3)"]!.stop()
                let cas2Clients = clients.filter { home[$0] == "cas2" }
                #expect(!cas2Clients.isEmpty)
                #expect(
                    try await eventually(timeout: .seconds(5)) {
                        try cas2Clients.allSatisfy { try casFor($0, pop3) != "cas2" }
                    })
                for client in cas2Clients { #expect(try casFor(client, ports[0]) == "cas2") }
                // Clients of the other CAS servers kept their server on POP3 too.
                for client in clients where home[client] != "cas2" { #expect(try casFor(client, pop3) == home[client]) }
                // The zone: the array's name and autodiscover point at the relays, the MX at the hub
                // servers (nothing listens on them here, so all of them, by the all-down policy).
                func dig(_ name: String, _ type: String) throws -> [String] {
                    try Dig.short(port: dnsPort, name, type)
                }
                #expect(try dig("autodiscover.contoso.com", "A") == ["10.0.0.10", "outlook.contoso.com."])
                #expect(try dig("contoso.com", "MX") == ["10 smtp.contoso.com."])
                #expect(try dig("smtp.contoso.com", "A") == ["127.0.0.71", "127.0.0.72"])
                _ = ballast
            }
        }
    }
}
