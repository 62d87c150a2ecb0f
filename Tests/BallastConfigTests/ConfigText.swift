import BallastConfig
import Testing

/// Config texts the reader's tests share: the errors of a text that must not load, and one
/// relay in front of one pool with some lines added.
enum ConfigText {
    /// The errors reading `yaml` gives; records an issue when it loads.
    static func errors(_ yaml: String, file: String = "/nonexistent/test.yaml") -> [ConfigError] {
        do {
            _ = try ConfigLoader.parse(yaml: yaml, file: file)
            Issue.record("expected errors")
            return []
        } catch {
            return error.errors
        }
    }

    /// Relay `front` on 127.0.0.1:8080 before pool `web`, with `lines` (indented four spaces) added.
    static func relay(_ lines: String) -> String {
        """
        pools:
          web:
            servers: [127.0.0.1:8081]
        relays:
          front:
            listen: 127.0.0.1:8080
            pool: web
        \(lines)
        """
    }
}
