import ArgumentParser
import BallastCore
import BallastLab
import BallastMail
import NIOCore
import NIOHTTP1
import NIOPosix

/// `ballast sample-server`: a tiny HTTP server that says who it is, or with `--sip` a SIP
/// server that answers every request 200 (a pool member for sip-options checks), for labs and trials.
struct SampleServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-server",
        abstract:
            "Run a sample HTTP server that answers every request with its name, or a SIP server (--sip), for the lab.")

    @Option(help: "ADDRESS:PORT to listen on.")
    var listen: String = "127.0.0.1:8081"

    @Option(help: "The name it answers with.")
    var name: String = "sample"

    @Flag(help: "Speak SIP over UDP and TCP instead of HTTP: every request but ACK is answered 200.")
    var sip = false

    @Flag(help: "Speak IMAP: logins with password USER-demo succeed and the answer names this server.")
    var imap = false

    @Flag(help: "Speak POP3, likewise.")
    var pop3 = false

    func run() async throws {
        guard let endpoint = Endpoint(listen) else {
            throw ValidationError("--listen \(listen) is not ADDRESS:PORT such as 127.0.0.1:8081")
        }
        let name = self.name
        if sip {
            try await SampleSIPServer.run(endpoint: endpoint, name: name)
            return
        }
        if imap || pop3 {
            let server = try await StandInMailServer.start(
                host: endpoint.address.description, port: endpoint.port, name: name, pop3: pop3,
                group: MultiThreadedEventLoopGroup.singleton)
            print("sample-server \(name) (\(pop3 ? "POP3" : "IMAP")) listening on \(endpoint)")
            try await server.channel.closeFuture.get()
            return
        }
        let server = try await StandInWebServer.start(
            host: endpoint.address.description, port: endpoint.port, name: name,
            group: MultiThreadedEventLoopGroup.singleton)
        print("sample-server \(name) listening on \(endpoint)")
        try await server.channel.closeFuture.get()
    }
}
