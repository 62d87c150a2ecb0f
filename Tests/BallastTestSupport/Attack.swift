import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What an outsider does to a stream listener, bounded in count and time: connections opened and
/// dropped, inputs cut at every length, numbers made negative or huge, random damage, clients that
/// stop halfway (with or without shutting their side) and clients that send a byte at a time.
/// Nothing here reads answers: whether the node copes is read from the node afterwards.
public struct Attack {
    /// The listener's port on 127.0.0.1.
    public let port: Int
    /// Inputs the attack is made from: valid messages of the listener's protocol.
    public let seeds: [[UInt8]]
    private var mutator: Mutator

    /// An attack on `port` made from `seeds`, its random choices drawn from `seed`.
    public init(port: Int, seeds: [String], seed: UInt64 = 1) {
        self.init(port: port, bytes: seeds.map { Array($0.utf8) }, seed: seed)
    }

    /// An attack on `port` made from binary seeds (a TLS ClientHello, say).
    public init(port: Int, bytes seeds: [[UInt8]], seed: UInt64 = 1) {
        self.port = port
        self.seeds = seeds
        self.mutator = Mutator(seed: seed)
    }

    /// Sockets a round keeps open on purpose (abandoned and half-open clients), closed by `release`.
    public private(set) var held: [TestSocket] = []
    /// What each held socket sent, for the message when one stays open.
    private var heldInputs: [[UInt8]] = []
    /// Connections opened so far, each one input tried.
    public private(set) var tried = 0
    /// What was sent from each client port of this round (for naming the inputs of connections the node keeps).
    public private(set) var sentFrom: [Int: [UInt8]] = [:]

    /// Connections waiting in the listener's accept queue (the kernel's count for the listening
    /// socket). An attacker faster than the node overflows it, and then the kernel, not the node,
    /// drops connections; the rounds pace themselves to stay below that, since what is tested is
    /// what the node does with what it accepts.
    static func acceptQueue(port: Int) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 4, fields[3] == "0A",
                fields[1].split(separator: ":").last.flatMap({ Int($0, radix: 16) }) == port,
                let queued = fields[4].split(separator: ":").last.flatMap({ Int($0, radix: 16) })
            else { continue }
            return queued
        }
        return 0
    }

    /// Waits (at most 2 s) while the accept queue is longer than 128.
    private func pace(_ index: Int) {
        guard index % 32 == 0 else { return }
        let deadline = ContinuousClock.now + .seconds(2)
        while Self.acceptQueue(port: port) > 128 && ContinuousClock.now < deadline { usleep(2_000) }
    }

    /// Opens and drops `count` connections at once.
    public mutating func connectAndClose(_ count: Int) {
        for index in 0..<count {
            pace(index)
            guard let socket = try? TestSocket(port: port, timeout: .seconds(2)) else { continue }
            sentFrom[socket.localPort] = Array("[connect-and-close]".utf8)
        }
        tried += count
    }

    /// Sends each input on a fresh connection, then drops it; every `halfClose`th one is shut for
    /// writing and held instead, as a client that said all it had to say.
    public mutating func send(_ inputs: [[UInt8]], halfCloseEvery halfClose: Int = 4) {
        tried += inputs.count
        for (index, input) in inputs.enumerated() {
            pace(index)
            guard let socket = try? TestSocket(port: port, timeout: .seconds(2)) else { continue }
            sentFrom[socket.localPort] = input
            try? socket.send(input)
            if index % halfClose == 0 {
                socket.shutdownWrite()
                held.append(socket)
                heldInputs.append(input + Array(" [half-closed]".utf8))
            }
        }
    }

    /// Every seed truncated at every length.
    public mutating func truncations() {
        send(seeds.flatMap { Mutator.truncations($0) })
    }

    /// Every number in every seed replaced by a hostile one, and `count` randomly damaged seeds.
    public mutating func mutations(_ count: Int) {
        var inputs = seeds.flatMap { Mutator.numberReplacements($0) }
        for _ in 0..<count { inputs.append(mutator.damaged(seeds[mutator.below(seeds.count)])) }
        send(inputs)
    }

    /// `count` connections that send the start of a seed and then nothing, held open: the node
    /// must close them by its own timeouts.
    public mutating func abandon(_ count: Int) {
        tried += count
        for index in 0..<count {
            pace(index)
            guard let socket = try? TestSocket(port: port, timeout: .seconds(2)) else { continue }
            let seed = seeds[index % seeds.count]
            let input = Array(seed.prefix(mutator.below(seed.count)))
            sentFrom[socket.localPort] = input + Array(" [abandoned]".utf8)
            try? socket.send(input)
            held.append(socket)
            heldInputs.append(input + Array(" [abandoned]".utf8))
        }
    }

    /// `count` clients sending one seed a byte at a time, `pause` apart, for at most `duration`.
    public mutating func slowSenders(_ count: Int, pause: Duration, for duration: Duration) async {
        tried += count
        let sockets = (0..<count).compactMap { _ in try? TestSocket(port: port, timeout: .seconds(2)) }
        for socket in sockets { sentFrom[socket.localPort] = Array("[slow sender]".utf8) }
        let seed = seeds[0]
        let deadline = ContinuousClock.now + duration
        var offset = 0
        while ContinuousClock.now < deadline && offset < seed.count {
            for socket in sockets { try? socket.sender.send([seed[offset]]) }
            offset += 1
            try? await Task.sleep(for: pause)
        }
        held += sockets
        heldInputs += sockets.map { _ in Array("[slow sender]".utf8) }
    }

    /// What the held sockets the node has not closed within `limit` had sent (a read sees no end
    /// of stream); empty when the node closed them all.
    public func heldLeftOpen(within limit: Duration) -> [String] {
        let deadline = ContinuousClock.now + limit
        return zip(held, heldInputs).compactMap { socket, input in
            // Drain what the node said before closing; the end of stream must follow.
            repeat {
                do {
                    if try socket.read(limit: 65536).isEmpty { return nil }
                } catch let failure as TestSocket.Failure where failure.isTimeout {
                    continue
                } catch {
                    return nil  // reset by the node: closed too
                }
            } while ContinuousClock.now < deadline
            return String(decoding: input, as: UTF8.self).debugDescription
        }
    }

    /// What the node's connections still open on the attacked port had been sent, with their
    /// TCP state: after a round has settled there should be none.
    public func stillOpen(in probe: ProcessProbe) -> [String] {
        probe.connections(onPort: port).map { connection in
            let input =
                sentFrom[connection.clientPort].map { String(decoding: $0, as: UTF8.self).debugDescription } ?? "?"
            return "state \(connection.state): \(input)"
        }
    }

    /// Closes every held socket.
    public mutating func release() {
        for socket in held { socket.close() }
        held = []
        heldInputs = []
        sentFrom = [:]
    }
}

/// Rounds of an attack with the node measured before and after each: resident memory must not
/// grow round by round. `round` runs one round; the result holds the memory before the first and
/// after each, in KiB, and is printed with `name` so that a run's log has the figures.
public func attackInRounds(
    _ rounds: Int, name: String, probe: ProcessProbe, settle: () async -> Bool, _ round: (Int) async throws -> Int
) async throws -> [Int] {
    var resident = [probe.residentKiB ?? -1]
    var tried = 0
    for index in 0..<rounds {
        tried += try await round(index)
        _ = await settle()
        // The node hands freed memory back every few seconds: the lowest reading within 12 s,
        // or the first one no higher than after the round before.
        let target = (resident.count > 1 ? resident.last! : resident[0]) + 512
        var lowest = probe.residentKiB ?? -1
        let deadline = ContinuousClock.now + .seconds(12)
        while lowest > target && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(250))
            lowest = min(lowest, probe.residentKiB ?? lowest)
        }
        resident.append(lowest)
    }
    print("hostile \(name): \(tried) inputs in \(rounds) rounds; resident KiB before and after each round: \(resident)")
    return resident
}

/// A real TLS ClientHello, as Python's ssl module (OpenSSL) writes it, offering `alpn`: the seed
/// of attacks on a TLS listener's handshake.
public func clientHello(serverName: String = "lab.contoso.com", alpn: [String] = []) throws -> [UInt8] {
    let script = """
        import ssl, sys
        context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
        if len(sys.argv) > 2: context.set_alpn_protocols(sys.argv[2].split(","))
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        client = context.wrap_bio(incoming, outgoing, server_hostname=sys.argv[1])
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            pass
        sys.stdout.write(outgoing.read().hex())
        """
    let output = try BallastProcess.run(
        executable: URL(fileURLWithPath: "/usr/bin/python3"),
        ["-c", script, serverName] + (alpn.isEmpty ? [] : [alpn.joined(separator: ",")])
    ).stdout
    var bytes: [UInt8] = []
    var index = output.startIndex
    while let next = output.index(index, offsetBy: 2, limitedBy: output.endIndex), next > index {
        guard let byte = UInt8(output[index..<next], radix: 16) else { break }
        bytes.append(byte)
        index = next
    }
    return bytes
}

/// Datagrams from one UDP socket to a listener on 127.0.0.1, counting what comes back: for floods
/// of mutated messages and for measuring how much a server sends for what it is sent.
public final class DatagramAttack {
    private let fd: Int32
    /// Bytes and datagrams sent and received so far.
    public private(set) var sentBytes = 0
    public private(set) var sentDatagrams = 0
    public private(set) var receivedBytes = 0
    public private(set) var receivedDatagrams = 0

    /// A socket sending to `port`, from `source` when given.
    public init(port: Int, source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestSocket.Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        if let source { _ = TestSocket.withAddress(source, port: 0) { bind(fd, $0, $1) } }
        guard TestSocket.withAddress("127.0.0.1", port: port, { connect(fd, $0, $1) }) == 0 else {
            close(fd)
            throw TestSocket.Failure(description: "connect: \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    /// Sends each datagram, reading what has come back every so often so that the socket's
    /// receive buffer does not overflow (which would hide answers), and pausing 5 ms after each
    /// 64 so that the server's does not either: what is measured is what the server does with
    /// what it receives.
    public func send(_ datagrams: [[UInt8]]) {
        for (index, datagram) in datagrams.enumerated() {
            let sent = datagram.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if sent >= 0 {
                sentBytes += datagram.count
                sentDatagrams += 1
            }
            if index % 64 == 63 { drain(for: .milliseconds(5)) }
        }
    }

    /// Reads every answer that arrives within `window`.
    public func drain(for window: Duration) {
        let deadline = ContinuousClock.now + window
        var buffer = [UInt8](repeating: 0, count: 65536)
        repeat {
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                guard count >= 0 else { break }
                receivedBytes += count
                receivedDatagrams += 1
            }
            if ContinuousClock.now < deadline { usleep(10_000) }
        } while ContinuousClock.now < deadline
    }
}
