/// Why the store refused or failed, with what the operator can do about it.
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Hashable, Sendable {
        /// The store cannot be reached: writes are refused until it returns; nodes run from their last state.
        case unreachable
        /// A file kept beside the store (a pending plan) cannot be written.
        case localFile
        /// Only a standby answers: reads work, writes wait until a plan promotes it.
        case readOnly
        /// The schema is newer than this program, or a migration failed.
        case schema
        /// The change contradicts what the store holds (an unknown user, a copy that is not there).
        case invalidChange
        /// Someone else is doing it now (another runner applies the plan).
        case busy
    }

    /// The kind of failure.
    public var code: Code
    /// What went wrong and what to do.
    public var message: String
    /// The store it concerns: a file path or a PostgreSQL address.
    public var location: String

    /// An error of `code`.
    public init(_ code: Code, _ message: String, location: String) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String {
        switch code {
        case .unreachable:
            return
                "\(message); changes are refused until the store at \(location) is back (nodes keep serving from their last state)"
        case .schema, .invalidChange, .readOnly, .localFile, .busy:
            return message
        }
    }
}
