import BallastTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `ballast users import` is all rows or none, even when it is killed halfway: a large import
/// shows its progress and commits once, at the end.
@Suite(.serialized) struct UsersImportTests {
    @Test func anImportKilledHalfwayLeavesNothingAndARerunImportsAll() async throws {
        let folder = try BallastProcess.makeDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("ballast.yaml").path
        try """
        pools:
          pool-hq: {servers: [127.0.0.1:5060]}
        store: {location: \(folder.path)/directory.db, realm: contoso.com}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let count = 30_000
        let csv = folder.appendingPathComponent("users.csv").path
        try (["sip-uri,password,home-pool"] + (0..<count).map { "sip:u\($0)@contoso.com,pw\($0),pool-hq" })
            .joined(separator: "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        func users() throws -> Int {
            let export = try BallastProcess.run(
                ["users", "export", "--format", "csv", "-c", config], timeout: .seconds(60))
            return export.stdout.split(separator: "\n").filter { $0.hasPrefix("sip:") }.count
        }

        let log = folder.appendingPathComponent("import.log")
        let importing = try PeerProcess(
            BallastProcess.binary.path, ["users", "import", "-c", config, csv], output: log)
        let halfway = await eventually(timeout: .seconds(120), every: .milliseconds(5)) {
            ((try? String(contentsOf: log, encoding: .utf8)) ?? "").contains("writing 1000/\(count) rows")
        }
        #expect(halfway, "\((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        importing.crash()
        #expect(try users() == 0, "a killed import left some of its rows")

        let whole = try BallastProcess.run(["users", "import", "-c", config, csv], timeout: .seconds(300))
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(whole.stderr.contains("writing 29000/\(count) rows (committed together at the end)"))
        #expect(whole.stdout.contains("30000 users, 0 databases imported"))
        #expect(try users() == count)
    }
}
