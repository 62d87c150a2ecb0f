public import BallastCore
public import CBallastLinux

#if canImport(Glibc)
    import Glibc
#endif

/// An errno from a system call, described for a log line.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The errno value.
    public var code: Int32
    /// What was being done.
    public var operation: String

    /// Creates the error of `operation` that failed with errno `code`.
    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    public var description: String { "\(operation): \(Self.describe(code))" }

    /// `strerror`, lower-cased to read well inside a sentence.
    public static func describe(_ code: Int32) -> String {
        String(cString: strerror(code)).lowercased()
    }
}

extension ballast_address {
    /// The C form of an endpoint.
    public init(_ endpoint: Endpoint) {
        self.init()
        let bytes = endpoint.address.bytes
        family = endpoint.address.family == .v6 ? 6 : 4
        port = UInt16(endpoint.port)
        withUnsafeMutableBytes(of: &self.bytes) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
    }

    /// The endpoint, or nil for an unknown family.
    public var endpoint: Endpoint? {
        switch family {
        case 4:
            return withUnsafeBytes(of: bytes) { raw in
                Endpoint(address: IPAddress(v4: raw[0], raw[1], raw[2], raw[3]), port: Int(port))
            }
        case 6:
            return withUnsafeBytes(of: bytes) { raw in
                Endpoint(
                    address: IPAddress(
                        v6High: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                        low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))),
                    port: Int(port))
            }
        default:
            return nil
        }
    }
}

/// The file-descriptor limit, raised to the hard limit as HAProxy and nginx do at start.
public enum FileLimit {
    /// Raises the soft limit to the hard one; returns both.
    @discardableResult
    public static func raise() -> (soft: UInt64, hard: UInt64) {
        var soft: UInt64 = 0
        var hard: UInt64 = 0
        _ = ballast_raise_file_limit(&soft, &hard)
        return (soft, hard)
    }
}
