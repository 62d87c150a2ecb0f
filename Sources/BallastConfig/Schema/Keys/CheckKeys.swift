import BallastCore

/// A check of the `checks` section, or one written inline in a pool.
enum CheckKeys {
    static let type = Key.choice(
        "type", of: TopologyBuilder.CheckType.self, default: "required",
        "`tcp`, `tls`, `http`, `https` or `sip-options`")
    static let port = Key.number(
        "port", 1...65535, default: "none",
        "port to probe; without one, the server's port, else every port the relays forward to from that pool (each relay then follows the health of its own port)"
    )
    static let interval = Key.duration("interval", minimum: .milliseconds(10), default: "`2s`", "time between probes")
    static let timeout = Key.duration("timeout", default: "`1s`", "a probe slower than this fails; at most `interval`")
    static let rise = Key.number("rise", 1...100, default: "`2`", "consecutive passes that bring a down server up")
    static let fall = Key.number(
        "fall", 1...100, default: "`3`",
        "consecutive failures that take an up server down; a dead server leaves rotation within `interval` × `fall`")
    static let path = Key.text(
        "path", expected: "a path starting with /", default: "`/`", only: ["http", "https"], "request path")
    static let host = Key.text(
        "host", expected: "a host name", default: "server address", only: ["http", "https"], "Host header")
    static let expectStatus = Key.node(
        "expect-status", expected: TopologyBuilder.statusForm, default: "`200-399` (sip-options: `200-499`)",
        only: ["http", "https", "sip-options"], "a status or a range")
    static let expectBody = Key.text(
        "expect-body", expected: "text the body must contain", default: "none", only: ["http", "https"],
        "text the body must contain")
    static let verify = Key.flag(
        "verify", default: "`false` (`true` with `ca-file`)", only: ["tls", "https", "sip-options"],
        "verify the server's certificate")
    static let caFile = Key.text(
        "ca-file", expected: "a path to a PEM file", default: "system store", only: ["tls", "https", "sip-options"],
        "PEM bundle of trusted CAs")
    static let serverName = Key.text(
        "server-name", expected: "a DNS name", default: "none", only: ["tls", "https", "sip-options"],
        "SNI name, and the name verified")
    static let transport = Key.choice(
        "transport", of: SIPSettings.Transport.self, default: "`udp`", only: ["sip-options"],
        "`udp`, `tcp` or `tls` (with `verify`, `ca-file`, `server-name` as for tls)")

    /// The section these keys make up.
    static let section = ConfigSection(
        "checks.NAME", form: "a check mapping", noun: "checks", kindKey: "type", showsKinds: true,
        keys: [
            type.declaration, port.declaration, interval.declaration, timeout.declaration, rise.declaration,
            fall.declaration, path.declaration, host.declaration, expectStatus.declaration, expectBody.declaration,
            verify.declaration, caFile.declaration, serverName.declaration, transport.declaration,
        ])
}
