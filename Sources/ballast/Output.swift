import BallastCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes a line to standard error.
func printError(_ text: String) {
    let line = text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

/// Writes a line to standard output at once, even when it is a pipe or a file.
func printNow(_ text: String) {
    let line = text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(1, $0.baseAddress, $0.count - 1) }
}

/// A count the admin API sent as text, with its noun in the right number ("? users" when absent).
func counted(_ text: String?, _ singular: String) -> String {
    guard let text, let count = Int(text) else { return "? \(singular)s" }
    return BallastCore.counted(count, singular)
}
