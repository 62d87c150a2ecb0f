import BallastCore
import Testing

/// Addresses of record as the directory keys users.
struct DirectoryTests {
    @Test func addressesOfRecordDropPortParametersAndCase() {
        #expect(UserAddress.addressOfRecord("sip:Alice@LAB.example:5061;transport=tls")?.aor == "sip:Alice@lab.example")
        #expect(UserAddress.addressOfRecord("sips:bob@lab.example")?.aor == "sip:bob@lab.example")
        #expect(UserAddress.addressOfRecord("sip:carol:pw@[2001:db8::1]:5060")?.aor == "sip:carol@[2001:db8::1]")
        for bad in ["sip:lab.example", "tel:+1555", "sip:@lab.example", "mailto:a@b", "alice"] {
            #expect(UserAddress.addressOfRecord(bad) == nil, "\(bad)")
        }
        #expect(UserAddress.isAddressLiteral("sip:alice@127.0.0.1"))
        #expect(UserAddress.isAddressLiteral("sip:alice@[::1]"))
        #expect(!UserAddress.isAddressLiteral("sip:alice@lab.example"))
    }

    @Test func usersAreFoundByURIAndByAuthNameAndTheFirstOfADuplicateWins() {
        let alice = DirectoryUser(sipURI: "sip:alice@x", authName: "alice", ha1: [.md5: "1"], homePool: "hq")
        let twin = DirectoryUser(sipURI: "sip:alice@x", authName: "alice2", ha1: [.md5: "2"], homePool: "dr")
        let directory = Directory(users: [alice, twin])
        #expect(directory.user(sipURI: "sip:alice@x") == alice)
        #expect(directory.user(authName: "alice") == alice)
        #expect(directory.user(authName: "alice2") == nil)
        #expect(directory.users == [alice])
    }
}
