import BallastCore
import Testing

@Suite struct CountedTests {
    @Test func theNounFollowsTheCount() {
        #expect(counted(0, "pool") == "0 pools")
        #expect(counted(1, "pool") == "1 pool")
        #expect(counted(2, "user") == "2 users")
        #expect(counted(1, "copy", plural: "copies") == "1 copy")
        #expect(counted(3, "copy", plural: "copies") == "3 copies")
    }
}
