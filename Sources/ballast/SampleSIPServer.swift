import BallastCore
import BallastLab
import NIOCore
import NIOPosix

/// The SIP side of `ballast sample-server --sip`: a stand-in front end until Ctrl-C.
enum SampleSIPServer {
    static func run(endpoint: Endpoint, name: String) async throws {
        let server = try await StandInFrontEnd.start(
            host: endpoint.address.description, port: endpoint.port, name: name,
            group: MultiThreadedEventLoopGroup.singleton)
        print("sample-server \(name) speaking SIP on udp and tcp \(endpoint)")
        try await server.udp.closeFuture.get()
        try await server.tcp.closeFuture.get()
    }
}
