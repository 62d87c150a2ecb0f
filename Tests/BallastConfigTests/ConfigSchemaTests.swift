import BallastCore
import Foundation
import Testing

@testable import BallastConfig

/// The key declarations themselves, and the messages the reader makes from them.
@Suite struct ConfigSchemaTests {
    func errors(_ yaml: String) -> [ConfigError] { ConfigText.errors(yaml) }
    func relay(_ lines: String) -> String { ConfigText.relay(lines) }

    @Test func everyDeclarationIsComplete() {
        for section in ConfigReference.sections {
            let names = section.keys.map(\.name)
            #expect(Set(names).count == names.count, "\(section.id) declares a key twice")
            for key in section.keys {
                #expect(!key.defaultValue.isEmpty && !key.meaning.isEmpty && !key.expected.isEmpty, "\(key.name)")
                #expect(!key.meaning.contains("\n") && !key.meaning.contains(" | "), "\(key.name): one table cell")
            }
            #expect(Set(ConfigReference.ids).count == ConfigReference.ids.count)
        }
    }

    @Test func kindsNameRealKinds() {
        let checkTypes = Set(TopologyBuilder.CheckType.allCases.map(\.rawValue))
        let protocols = Set(RelayProtocol.allCases.map(\.rawValue))
        let persistence = Set(TopologyBuilder.PersistenceType.allCases.map(\.rawValue))
        for (section, kinds) in [
            (CheckKeys.section, checkTypes), (RelayKeys.section, protocols), (HTTPRelayKeys.section, protocols),
            (PersistenceKeys.section, persistence), (CookieKeys.section, persistence),
        ] {
            for key in section.keys { #expect(Set(key.only ?? []).isSubset(of: kinds), "\(section.id).\(key.name)") }
        }
    }

    @Test func nestedKeysMakeOneMappingName() {
        let relay = TopologyBuilder.relaySection
        #expect(relay.names().filter { $0 == "timeouts" }.count == 1)
        #expect(
            relay.names(under: "timeouts") == [
                "connect", "idle", "handshake", "login", "request", "keep-alive", "server", "server-idle",
            ])
        #expect(relay.declaration("login", under: "timeouts")?.only == ["imap", "imaps", "pop3", "pop3s"])
        #expect(relay.declaration("timeouts")?.name == "timeouts.connect")
    }

    @Test func aKeyOfAnotherKindIsRefusedWithTheKindsItTakes() {
        let login = errors(relay("    timeouts: {login: 5s}")).first
        #expect(login?.code == .conflict)
        #expect(login?.key == "relays.front.timeouts.login")
        #expect(login?.message == "applies only to imap, imaps, pop3 and pop3s relays")
        #expect(login?.expected == "protocol: imap, imaps, pop3 or pop3s, or no timeouts.login")

        let header = errors(relay("    max-header-size: 4096")).first
        #expect(header?.message == "applies only to http and https relays")

        let path = errors(
            """
            checks:
              plain: {type: tcp, port: 80, path: /health}
            pools:
              web: {check: plain, servers: [127.0.0.1:8081]}
            """
        ).first
        #expect(path?.key == "checks.plain.path" && path?.message == "applies only to http and https checks")

        let cookieName = errors(relay("    persistence: {type: source, name: SERVERID}")).first
        #expect(cookieName?.message == "applies only to cookie persistence")
        #expect(cookieName?.expected == "type: cookie, or no name")
    }

    @Test func aNestedUnknownKeyGetsDidYouMeanFromTheDeclarations() {
        let error = errors(relay("    timeouts: {conect: 1s}")).first
        #expect(error?.code == .unknownKey)
        #expect(error?.key == "relays.front.timeouts.conect")
        #expect(error?.message.contains("did you mean \"connect\"") == true)
        #expect(error?.expected?.hasPrefix("one of connect, idle, handshake, login") == true)
    }

    @Test func missingAndMalformedValuesQuoteTheDeclaredForm() {
        let capacity = errors(relay("    max-connections: lots")).first
        #expect(capacity?.expected == "a whole number from 1 to 1000000")
        #expect(capacity?.line == 8 && capacity?.column == 22)

        let witness = errors(
            """
            pools:
              web: {servers: [127.0.0.1:8081]}
            relays:
              front: {listen: 127.0.0.1:8080, pool: web}
            witness: {automatic-after: 1m}
            """
        )
        #expect(witness.contains { $0.key == "witness.listen" && $0.code == .missingKey })

        let hold = errors(
            """
            sites:
              hq: {hold-down: soon}
            pools:
              web: {site: hq, servers: [127.0.0.1:8081]}
            """
        ).first
        #expect(hold?.key == "sites.hq.hold-down" && hold?.expected == SiteKeys.holdDown.declaration.expected)
    }

    /// Every value of every example replaced by a hostile one (negative, huge, empty, a list or a
    /// mapping where a scalar goes, 10,000 characters): the reader never traps, and each value
    /// it refuses is named with its line and key.
    @Test func hostileValuesInEveryExampleGetLocatedErrors() throws {
        let hostile = ["-1", "99999999999999999999999", "[]", "{a: b}", "''", String(repeating: "x", count: 10_000)]
        let examples = ExampleConfigTests.examples
        let files = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".yaml") }
        #expect(files.count >= 6)
        var refused = 0
        for file in files.sorted() {
            let path = examples.appendingPathComponent(file).path
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(
                separator: "\n", omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() {
                guard let colon = line.firstIndex(of: ":"), !line.trimmingCharacters(in: .whitespaces).hasPrefix("#"),
                    line[line.index(after: colon)...].hasPrefix(" "),
                    !line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces).isEmpty
                else { continue }
                for value in hostile {
                    var edited = lines
                    edited[index] = line[...colon] + " " + value[...]
                    do {
                        _ = try ConfigLoader.parse(yaml: edited.joined(separator: "\n"), file: path)
                    } catch {
                        for problem in error.errors where problem.code == .invalidValue {
                            #expect(problem.line != nil && !problem.key.isEmpty, "\(file):\(index + 1): \(problem)")
                            refused += 1
                        }
                    }
                }
            }
        }
        #expect(refused > 500, "\(refused)")
    }
}
