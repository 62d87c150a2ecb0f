public import BallastCodecs
public import BallastCore

/// A response, how long to hold it back, and the binding lists that must be on disk before
/// it goes out.
public struct SIPAnswer: Sendable {
    /// The response.
    public var message: SIPMessage
    /// Zero but for failed logins, which are answered later and later (`LoginThrottle`).
    public var delay: Duration
    /// The new binding lists this request made; an edge that keeps bindings on disk sends
    /// the response once they are written. Empty when nothing changed.
    public var changes: [BindingChange]

    /// An answer sent `delay` from now, after `changes` are saved.
    public init(_ message: SIPMessage, delay: Duration = .zero, changes: [BindingChange] = []) {
        self.message = message
        self.delay = delay
        self.changes = changes
    }
}

/// The whole binding list of one address of record at one registrar, after a change: what
/// the bindings journal appends.
public struct BindingChange: Sendable, Hashable, Codable {
    /// The pool whose registrar holds the bindings.
    public var pool: String
    /// The address of record.
    public var aor: String
    /// Its bindings now; empty when it has none left.
    public var bindings: [Binding]

    /// A change.
    public init(pool: String, aor: String, bindings: [Binding]) {
        self.pool = pool
        self.aor = aor
        self.bindings = bindings
    }
}
