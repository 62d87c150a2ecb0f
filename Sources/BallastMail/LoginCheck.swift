import BallastCodecs
import BallastCore

/// Checks a mail or web login's password against the directory's HA1 values: H(user:realm:password)
/// recomputed and compared in constant time. An unknown user costs the same work as a known one,
/// so that timing tells nothing about which names exist.
enum LoginCheck {
    /// The user when `login` names one whose password is `password`; nil otherwise.
    static func verify(login: String, password: String, directory: Directory, realm: String) -> DirectoryUser? {
        let user = directory.user(login: login)
        let authName = user?.authName ?? login
        let (algorithm, stored) = user.flatMap(strongest) ?? (.sha256, String(repeating: "0", count: 64))
        let computed = Digest.ha1(username: authName, realm: realm, password: password, algorithm: algorithm)
        let matches = Digest.constantTimeEqual(computed, stored)
        return matches ? user : nil
    }

    private static func strongest(_ user: DirectoryUser) -> (DigestAlgorithm, String)? {
        if let value = user.ha1[.sha256] { return (.sha256, value) }
        if let value = user.ha1[.md5] { return (.md5, value) }
        return nil
    }
}
