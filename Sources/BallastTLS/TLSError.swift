/// Why a TLS context could not be built from the files a config names.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    /// What failed, with the file and the TLS library's reason.
    public let description: String

    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
