public import BallastCore

/// A password login (IMAP, POP3, HTTP Basic) checked against the directory's HA1 values:
/// H(user:realm:password) recomputed and compared in constant time. An unknown user costs the
/// same work as a known one, so that timing tells nothing about which names exist.
public enum DirectoryLogin {
    /// The user when `login` names one whose password is `password`; nil otherwise.
    public static func verify(login: String, password: String, directory: Directory, realm: String) -> DirectoryUser? {
        let user = directory.user(login: login)
        let authName = user?.authName ?? login
        let (algorithm, stored) = user.flatMap(strongest) ?? (.sha256, String(repeating: "0", count: 64))
        let computed = Digest.ha1(username: authName, realm: realm, password: password, algorithm: algorithm)
        return Digest.constantTimeEqual(computed, stored) ? user : nil
    }

    /// The user name and password of an `Authorization: Basic ...` value (RFC 7617); nil otherwise.
    public static func basicCredentials(_ authorization: String) -> (user: String, password: String)? {
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let bytes = Base64.decode(parts[1].trimmingCharacters(in: " ")),
            let colon = bytes.firstIndex(of: UInt8(ascii: ":"))
        else { return nil }
        let user = String(decoding: bytes[..<colon], as: UTF8.self)
        guard !user.isEmpty else { return nil }
        return (user, String(decoding: bytes[(colon + 1)...], as: UTF8.self))
    }

    private static func strongest(_ user: DirectoryUser) -> (DigestAlgorithm, String)? {
        if let value = user.ha1[.sha256] { return (.sha256, value) }
        if let value = user.ha1[.md5] { return (.md5, value) }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}
