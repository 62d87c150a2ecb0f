/// The HELP text of every metric Ballast exports, by name: what an operator reads next to the
/// series in Prometheus. A metric missing here still gets a generic text, and a test checks that
/// every metric named in the sources has its own.
public enum MetricCatalogue {
    /// Metric name to HELP text.
    public static let help: [String: String] = [
        "ballast_bad_input_total": "Malformed or hostile inputs refused, by listener and reason.",
        "ballast_directory_writes_total": "Changes written to the directory through the admin API, by action.",
        "ballast_dns_malformed_total": "DNS messages that could not be parsed and got FORMERR or no answer.",
        "ballast_dns_notifies_total": "DNS NOTIFY messages sent to secondaries.",
        "ballast_dns_queries_total": "DNS queries answered, by transport.",
        "ballast_dns_rate_limited_total":
            "DNS answers over UDP dropped or truncated by response rate limiting, by action.",
        "ballast_dns_tcp_connections_active": "Open DNS connections over TCP, by listener.",
        "ballast_dns_zone_transfers_total": "Zone transfers (AXFR) served to secondaries.",
        "ballast_health_changes_total": "Health transitions of a server (up to down or back), by pool and server.",
        "ballast_http_bad_requests_total": "HTTP requests refused as malformed (400, 408, 431), by relay.",
        "ballast_tls_handshake_failures_total":
            "Client TLS handshakes that failed or did not finish within timeouts.handshake, by relay (engine relays).",
        "ballast_http_connections_total": "Client connections accepted by an HTTP or HTTPS relay.",
        "ballast_http_no_server_total": "HTTP requests answered 503 because no server of the pool was usable.",
        "ballast_http_requests_total": "HTTP requests relayed to a server, by relay.",
        "ballast_http_retries_total": "Idempotent HTTP requests retried on another server after a failure.",
        "ballast_http_server_failures_total": "HTTP requests whose server failed (502 or 504), by relay.",
        "ballast_login_throttled_total": "Logins refused or delayed for password guessing, by protocol.",
        "ballast_mail_logins_total": "IMAP and POP3 logins through a directory-aware relay, by relay and result.",
        "ballast_plan_steps_total": "Failover and failback plan steps run, by plan kind and outcome.",
        "ballast_relay_bytes_from_clients_total": "Bytes a TCP relay carried from clients to servers.",
        "ballast_relay_bytes_from_servers_total": "Bytes a TCP relay carried from servers to clients.",
        "ballast_relay_connect_failures_total": "Connections a TCP relay could not open to a server.",
        "ballast_relay_connections_active": "Client connections open on a relay now.",
        "ballast_relay_connections_total": "Client connections accepted by a TCP relay.",
        "ballast_relay_idle_timeouts_total": "Relayed connections closed after their idle timeout.",
        "ballast_relay_limit_reached_total": "Client connections refused because a relay was at max-connections.",
        "ballast_relay_no_server_total": "Client connections closed because no server of the pool was usable.",
        "ballast_server_up": "1 when a server passes its health check, 0 when it does not.",
        "ballast_sip_auth_failures_total": "SIP requests whose digest credentials were wrong or stale.",
        "ballast_sip_bindings": "SIP contact bindings held by the registrars.",
        "ballast_sip_challenges_total": "SIP digest challenges sent (401).",
        "ballast_sip_connections_active": "Open SIP connections over TCP and TLS, by listener.",
        "ballast_sip_journal_batch_changes":
            "Binding changes written to the registrations file per write and fdatasync.",
        "ballast_sip_journal_sync_seconds": "Time of one write and fdatasync of the registrations file.",
        "ballast_sip_journal_wait_seconds":
            "How long the oldest REGISTER of a batch waited until its 200 could leave (queued, written, synced).",
        "ballast_sip_lost_pools": "Pools whose users are served by their backup registrar (resiliency mode).",
        "ballast_sip_malformed_total": "SIP messages that could not be parsed.",
        "ballast_sip_redirects_total": "SIP requests redirected (301) to the user's home or backup registrar.",
        "ballast_sip_registrations_total": "SIP REGISTER requests accepted (200).",
        "ballast_sip_responses_total": "SIP responses sent, by method and status.",
    ]

    /// The HELP text for `name`.
    public static func help(for name: String) -> String {
        help[name] ?? "Ballast metric \(name)."
    }
}
