import BallastCodecs
import BallastCore
import Testing

/// Password logins checked against HA1 values, and HTTP Basic credentials.
struct DirectoryLoginTests {
    static let alice = DirectoryUser(
        sipURI: "sip:alice@contoso.com", authName: "alice",
        ha1: [.md5: Digest.ha1(username: "alice", realm: "contoso.com", password: "pw", algorithm: .md5)],
        homePool: nil,
        mail: "alice@contoso.com")

    @Test func passwordsAreCheckedAgainstTheStrongestHA1() {
        var both = Self.alice
        both.ha1[.sha256] = Digest.ha1(username: "alice", realm: "contoso.com", password: "pw", algorithm: .sha256)
        for user in [Self.alice, both] {
            let directory = Directory(users: [user])
            #expect(
                DirectoryLogin.verify(
                    login: "alice@contoso.com", password: "pw", directory: directory, realm: "contoso.com") == user)
            #expect(
                DirectoryLogin.verify(login: "alice", password: "PW", directory: directory, realm: "contoso.com") == nil
            )
            #expect(DirectoryLogin.verify(login: "alice", password: "pw", directory: directory, realm: "other") == nil)
            #expect(
                DirectoryLogin.verify(login: "bob", password: "pw", directory: directory, realm: "contoso.com") == nil)
        }
        var broken = Self.alice
        broken.ha1 = [.sha256: "not-hex"]
        #expect(
            DirectoryLogin.verify(
                login: "alice", password: "pw", directory: Directory(users: [broken]), realm: "contoso.com") == nil)
    }

    @Test func basicCredentialsAreReadOrRefused() {
        #expect(DirectoryLogin.basicCredentials("Basic YWxpY2U6cDpwdw==")! == ("alice", "p:pw"))
        #expect(DirectoryLogin.basicCredentials("basic  YWxpY2U6")! == ("alice", ""))
        for bad in ["Bearer abc", "Basic", "Basic !!!!", "Basic OnB3", "Basic YWxpY2U=", ""] {
            #expect(DirectoryLogin.basicCredentials(bad) == nil, "\(bad)")
        }
    }
}
