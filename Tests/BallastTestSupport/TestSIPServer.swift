public import BallastLab
public import NIOCore

/// A stand-in SIP front end for tests on a port free for both UDP and TCP.
public enum TestSIPServer {
    /// Starts one on `host`:`port` (0 for a port free for both UDP and TCP).
    public static func start(
        host: String = "127.0.0.1", port: Int = 0, group: any EventLoopGroup
    ) async throws
        -> StandInFrontEnd
    {
        // A port chosen here may be taken by the time both sockets bind: try a few.
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await StandInFrontEnd.start(
                    host: host, port: port == 0 ? Ports.freeForTCPAndUDP() : port, name: "fe", group: group)
            } catch  where port == 0 && attempt < 5 {
                continue
            }
        }
    }
}

extension StandInFrontEnd: TestResource {
    public func tearDown() async { await stop() }
}
