/// Why the SIP edge cannot start: a port taken, a certificate or registrations file unusable.
public struct SIPEdgeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong and what to do.
    public var description: String

    /// An error with its explanation.
    public init(description: String) { self.description = description }
}
