// swift-tools-version: 6.1
import PackageDescription

/// Language settings every Ballast target shares: Swift 6 mode plus the upcoming
/// features the anchors (Hummingbird, swift-configuration) turn on.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let nio = "swift-nio"

/// The engine's hot paths: per-connection state lives in final classes touched by one thread,
/// where Swift's dynamic exclusivity checks cost about 2 % of the relay's CPU
/// (docs/decisions/0003-data-plane-engine.md); the compiler's static checks still apply.
let engineSettings: [SwiftSetting] = strictSettings + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

/// The engine's TLS runs over the BoringSSL that swift-nio-ssl vendors, measured faster than
/// Debian's OpenSSL 3 (docs/decisions/0003-data-plane-engine.md). `BALLAST_TLS_LIBRARY=openssl`
/// builds it over OpenSSL 3 (libssl-dev) instead, for bench/http.sh's `openssl` target.
let tlsOverOpenSSL = Context.environment["BALLAST_TLS_LIBRARY"] == "openssl"

let package = Package(
    name: "ballast",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ballast", targets: ["ballast"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // The model and every decision. No I/O, no NIO.
        .target(
            name: "BallastCore",
            dependencies: [
                .product(name: "Atomics", package: "swift-atomics")
            ],
            swiftSettings: strictSettings
        ),
        // YAML config file -> validated Topology, with errors that name file, line and key.
        .target(
            name: "BallastConfig",
            dependencies: [
                "BallastCore",
                "BallastCodecs",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // Pure wire codecs that never trust their input.
        .target(
            name: "BallastCodecs",
            dependencies: ["BallastCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // What every listener reports about bad input: counted, logged whole a few times, then summarised.
        .target(
            name: "BallastReporting",
            dependencies: [
                "BallastCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // Adapters between core values and NIO types, shared by the edges.
        .target(
            name: "BallastNIO",
            dependencies: [
                "BallastCore",
                "BallastReporting",
                .product(name: "NIOCore", package: nio),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOPosix", package: nio),
            ],
            swiftSettings: strictSettings
        ),
        // Health checkers: tcp, tls, http(s) and SIP OPTIONS probes feeding the health state machines.
        .target(
            name: "BallastHealthChecks",
            dependencies: [
                "BallastCore",
                "BallastCodecs",
                "BallastNIO",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: nio),
                .product(name: "NIOHTTP1", package: nio),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // Linux system calls the engine makes, without sockaddr juggling in Swift.
        .target(name: "CBallastLinux"),
        // The engine's TLS in C: contexts, SNI, ALPN, ticket keys and a socket BIO of Ballast's own,
        // over swift-nio-ssl's BoringSSL (whose headers its NIOSSL product brings), or OpenSSL 3.
        .target(
            name: "CBallastTLS",
            dependencies: tlsOverOpenSSL ? ["COpenSSL"] : [.product(name: "NIOSSL", package: "swift-nio-ssl")],
            cSettings: tlsOverOpenSSL ? [.define("BALLAST_OPENSSL")] : []
        ),
        // nghttp2 from Debian (libnghttp2-dev): HTTP/2 framing, HPACK and flow control for the engine.
        .systemLibrary(name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        // TLS on the engine for every protocol that terminates or originates it.
        .target(
            name: "BallastTLS",
            dependencies: ["CBallastTLS", "BallastCore", "BallastEngine", "CBallastLinux"],
            swiftSettings: engineSettings
        ),
        // The data plane's engine: epoll threads, timers, buffers, listeners (docs/decisions/0003-data-plane-engine.md).
        .target(
            name: "BallastEngine",
            dependencies: [
                "BallastCore",
                "CBallastLinux",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: engineSettings
        ),
        // The L4 TCP relay: one protocol on the engine (docs/decisions/0001-relay-engine.md).
        .target(
            name: "BallastRelay",
            dependencies: [
                "BallastEngine",
                "BallastReporting",
                "BallastCore",
                "BallastCodecs",
                "CBallastLinux",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // HTTP relays on the engine: HTTP/1.1 heads scanned in place, bodies forwarded by their
        // framing, HTTP/2 from clients through nghttp2, TLS, per-loop pools of server connections
        // (docs/decisions/0003-data-plane-engine.md).
        .target(
            name: "BallastHTTPEngine",
            dependencies: [
                "BallastEngine",
                "BallastTLS",
                "CNGHTTP2",
                "BallastReporting",
                "BallastCore",
                "BallastCodecs",
                "CBallastLinux",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: engineSettings
        ),
        // Authoritative DNS: answers from the published state (pure), UDP and TCP on the engine.
        .target(
            name: "BallastDNS",
            dependencies: [
                "BallastReporting",
                "BallastCore",
                "BallastCodecs",
                "BallastEngine",
                "CBallastLinux",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // The director and registrar of deployment D4 as pure SIP logic: no I/O, no clock, no NIO.
        .target(
            name: "BallastSIPRegistrar",
            dependencies: [
                "BallastReporting",
                "BallastCore",
                "BallastCodecs",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // The SIP edge on the engine (UDP, TCP, TLS) and the bindings journal.
        .target(
            name: "BallastSIP",
            dependencies: [
                "BallastSIPRegistrar",
                "BallastReporting",
                "BallastCore",
                "BallastCodecs",
                "BallastEngine",
                "BallastTLS",
                "CBallastLinux",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // The directory's store: one schema and one set of migrations over SQLite and PostgreSQL.
        .target(
            name: "BallastStore",
            dependencies: [
                "BallastCore",
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // Failover and failback plans applied step by step against the store, resumable after a crash.
        .target(
            name: "BallastPlans",
            dependencies: [
                "BallastCore",
                "BallastStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        // Directory-aware IMAP and POP3 relays on the engine: the user's active mailbox copy decides the server.
        .target(
            name: "BallastMail",
            dependencies: [
                "BallastReporting",
                "BallastCore",
                "BallastCodecs",
                "BallastEngine",
                "BallastTLS",
                "CBallastLinux",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strictSettings
        ),
        // The demo lab: certificates made with swift-certificates, stand-in servers, the two-site config.
        .target(
            name: "BallastLab",
            dependencies: [
                "BallastCore",
                "BallastCodecs",
                "BallastMail",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "NIOHTTP1", package: nio),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // Admin API and Prometheus metrics on their own listener.
        .target(
            name: "BallastAdmin",
            dependencies: [
                "BallastReporting",
                "BallastCore",
                "BallastConfig",
                "BallastStore",
                "BallastPlans",
                "BallastDNS",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
            ],
            swiftSettings: strictSettings
        ),
        // One running node: publishes State, runs relays and checkers, reloads, drains.
        .target(
            name: "BallastNode",
            dependencies: [
                "BallastReporting",
                "CBallastLinux",
                "BallastCore",
                "BallastConfig",
                "BallastEngine",
                "BallastRelay",
                "BallastHTTPEngine",
                "BallastDNS",
                "BallastSIP",
                "BallastSIPRegistrar",
                "BallastMail",
                "BallastStore",
                "BallastPlans",
                "BallastHealthChecks",
                "BallastAdmin",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ballast",
            dependencies: [
                "BallastCore",
                "BallastCodecs",
                "BallastSIP",
                "BallastConfig",
                "BallastNode",
                "BallastStore",
                "BallastPlans",
                "BallastMail",
                "BallastLab",
                "BallastAdmin",
                "BallastEngine",
                "BallastRelay",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "NIOHTTP1", package: nio),
            ],
            swiftSettings: strictSettings
        ),

        // Tests mirror Sources: unit tests for the pure modules, real sockets for the edges.
        .target(
            name: "BallastTestSupport",
            dependencies: [
                "BallastCore",
                "BallastLab",
                "BallastConfig",
                "BallastSIP",
                "BallastCodecs",
                "BallastNode",
                "BallastMail",
                "BallastStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "NIOHTTP1", package: nio),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/BallastTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(name: "BallastCoreTests", dependencies: ["BallastCore"], swiftSettings: strictSettings),
        .testTarget(
            name: "BallastConfigTests", dependencies: ["BallastConfig", "BallastCore", "BallastTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "BallastCodecsTests", dependencies: ["BallastCodecs", "BallastCore", "BallastTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "BallastHealthChecksTests",
            dependencies: [
                "BallastHealthChecks", "BallastCore", "BallastLab", "BallastTestSupport",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastEngineTests",
            dependencies: [
                "BallastEngine", "BallastCore", "BallastTestSupport", "CBallastLinux",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "BallastTLSTests", dependencies: ["BallastTLS", "BallastCore", "BallastTestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "BallastRelayTests",
            dependencies: [
                "BallastRelay", "BallastNode", "BallastCore", "BallastCodecs", "BallastTestSupport",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastHTTPTests",
            dependencies: [
                "BallastNode", "BallastHTTPEngine", "BallastConfig", "BallastCore", "BallastCodecs", "BallastStore",
                "BallastTestSupport",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOEmbedded", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "NIOHTTP1", package: nio),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastDNSTests",
            dependencies: [
                "BallastDNS", "BallastNode", "BallastConfig", "BallastCore", "BallastCodecs", "BallastTestSupport",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastSIPRegistrarTests",
            dependencies: [
                "BallastSIPRegistrar", "BallastCore", "BallastCodecs",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastSIPTests",
            dependencies: [
                "BallastSIP", "BallastSIPRegistrar", "BallastLab", "BallastNode", "BallastConfig", "BallastCore",
                "BallastCodecs",
                "BallastTestSupport",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastMailTests",
            dependencies: [
                "BallastMail", "BallastNode", "BallastStore", "BallastConfig", "BallastCore", "BallastTestSupport",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastStoreTests",
            dependencies: [
                "BallastStore", "BallastCore", "BallastTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastPlansTests",
            dependencies: [
                "BallastPlans", "BallastStore", "BallastCore", "BallastTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastNodeTests",
            dependencies: [
                "BallastNode", "BallastCore", "BallastCodecs", "BallastConfig", "BallastStore", "BallastTestSupport",
                .product(name: "NIOCore", package: nio),
                .product(name: "NIOPosix", package: nio),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BallastAdminTests",
            dependencies: [
                "BallastAdmin", "BallastCore", "BallastTestSupport",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Scenarios run the real `ballast` binary against real servers and real clients.
        .testTarget(
            name: "ScenarioTests",
            dependencies: [
                "ballast", "BallastCore", "BallastCodecs", "BallastAdmin", "BallastTestSupport",
                .product(name: "NIOHTTP1", package: nio),
            ],
            swiftSettings: strictSettings
        ),
    ]
)

if tlsOverOpenSSL {
    // OpenSSL 3 from Debian (libssl-dev), for measuring the engine's TLS over it.
    package.targets.append(.systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]))
}
