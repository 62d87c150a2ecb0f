import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A short, readable reason for a network failure, for log lines and health results:
/// "connection refused", "connect timed out", not NIO's nested error dumps.
public func describeNetworkError(_ error: any Error) -> String {
    if let error = error as? NIOConnectionError {
        if let first = error.connectionErrors.first { return describeNetworkError(first.error) }
        if let resolution = error.dnsAAAAError ?? error.dnsAError { return "name resolution failed: \(resolution)" }
        return "cannot connect"
    }
    if let error = error as? ChannelError {
        switch error {
        case .connectTimeout: return "connect timed out"
        case .ioOnClosedChannel, .alreadyClosed: return "connection closed"
        case .eof: return "connection closed by the peer"
        default: return "\(error)"
        }
    }
    if let error = error as? IOError {
        return String(cString: strerror(error.errnoCode)).lowercased()
    }
    return "\(error)"
}
