import BallastCore
import BallastEngine
import BallastTLS
import CBallastLinux

#if canImport(Glibc)
    import Glibc
#endif

/// What a server link reports its socket's events to while lent: a client connection, or
/// one stream of an HTTP/2 client's.
protocol ServerLinkOwner: AnyObject {
    /// An event on `link`'s socket.
    func serverEvent(_ link: ServerLink, flags: UInt32, context: LoopContext)
}

/// One connection to a server, on one engine loop: lent to a client connection for one
/// exchange at a time, idle in its loop's pool between exchanges. It has a slot of its own so
/// that its socket's events find it whether or not a client holds it, as HAProxy's idle
/// connections do.
final class ServerLink: EngineConnection {
    enum Phase {
        case connecting
        case open
        case closed
    }

    let slot: Int
    var listenerID: Int { 0 }
    private(set) var deadline: UInt64 = 0
    /// The socket, with TLS when the relay re-encrypts.
    let io: SocketIO
    var fd: Int32 { io.fd }
    let endpoint: Endpoint
    var phase = Phase.connecting
    /// The client connection the link serves now; nil while idle.
    var owner: (any ServerLinkOwner)?
    /// Whether it served an exchange before this one (a failure may then be the server's
    /// keep-alive timeout, worth one retry on a fresh connection).
    var reused = false
    /// Bytes may wait in the socket (an edge came and no short read since).
    var readable = false
    /// The server sent its FIN.
    var peerClosed = false
    /// The pool it idles in, and until when.
    private var pool: ServerLinkPool?
    private var idleUntil: UInt64 = 0

    init(slot: Int, fd: Int32, endpoint: Endpoint, tls: TLSConnection?) {
        self.slot = slot
        self.io = SocketIO(fd: fd, tls: tls)
        self.endpoint = endpoint
    }

    /// Opens a connection to `endpoint` on `context`'s loop, connecting in the background:
    /// the owner hears of it through `serverEvent`. Nil with -errno when no socket could be had.
    /// With `tls`, it speaks TLS, resuming the session last kept in `pool` for this server.
    static func open(
        to endpoint: Endpoint, owner: any ServerLinkOwner, tls: TLSClientContext?, pool: ServerLinkPool,
        context: LoopContext
    ) -> Result<ServerLink, SystemError> {
        let fd = ballast_socket(endpoint.address.family == .v6 ? 6 : 4)
        guard fd >= 0 else { return .failure(SystemError(code: -fd, operation: "socket to \(endpoint)")) }
        _ = ballast_set_nodelay(fd)
        var address = ballast_address(endpoint)
        let result = ballast_connect(fd, &address)
        guard result == 0 || result == -EINPROGRESS else {
            Glibc.close(fd)
            return .failure(SystemError(code: -result, operation: "connect to \(endpoint)"))
        }
        var session: TLSConnection?
        if let tls {
            session = TLSConnection(
                connecting: fd, context: tls, name: "\(endpoint.address)", slot: pool.session(for: endpoint))
            guard session != nil else {
                Glibc.close(fd)
                return .failure(SystemError(code: ENOMEM, operation: "TLS to \(endpoint)"))
            }
        }
        let link = context.adopt { ServerLink(slot: $0, fd: fd, endpoint: endpoint, tls: session) }
        link.owner = owner
        _ = ballast_epoll_add(
            context.loop.epollFD, fd, EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue,
            context.tag(slot: link.slot, side: .back))
        if result == 0 { link.phase = .open }
        return .success(link)
    }

    func start(context: LoopContext) {}

    /// Whether a read of `count` bytes into `space` left nothing waiting. After the server's
    /// FIN no edge will come again, so reading goes on until the end of the stream is seen.
    func drained(count: Int, space: Int) -> Bool {
        io.drained(count: count, space: space) && !peerClosed
    }

    func handle(side: ConnectionSide, flags: UInt32, context: LoopContext) {
        if flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            readable = true
        }
        // A TLS read may have waited for room to write.
        if io.tls != nil && flags & EPOLLOUT.rawValue != 0 { readable = true }
        if flags & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0 { peerClosed = true }
        if let owner {
            owner.serverEvent(self, flags: flags, context: context)
            return
        }
        // Idle: the server closed it, or sent what nobody asked for. Either way it cannot serve.
        if flags & (EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue | EPOLLIN.rawValue) != 0 {
            close(context: context)
        }
    }

    /// Puts the link in `pool` until `until`, when it is closed unless taken.
    func idle(in pool: ServerLinkPool, until: UInt64, context: LoopContext) {
        owner = nil
        reused = true
        self.pool = pool
        idleUntil = until
        deadline = until
        context.schedule(self, at: until)
    }

    /// Takes the link out of its pool for `owner`.
    func lend(to owner: any ServerLinkOwner) {
        self.owner = owner
        pool = nil
        deadline = 0
    }

    func timerFired(at time: UInt64, context: LoopContext) {
        guard owner == nil, pool != nil, time == deadline, context.now >= idleUntil else { return }
        close(context: context)
    }

    func continueMoving(context: LoopContext) {}

    func continueAfterPoll(context: LoopContext) {}

    func close(context: LoopContext) {
        guard phase != .closed else { return }
        phase = .closed
        pool?.remove(self)
        pool = nil
        owner = nil
        io.tls?.shutdown()
        Glibc.close(fd)
        context.release(self)
    }
}

/// The idle connections to servers of one relay on one engine loop, newest last, so that the
/// warmest is reused first and the oldest time out. Touched only by its loop's thread.
final class ServerLinkPool: @unchecked Sendable {
    // @unchecked: each pool belongs to one engine loop (EngineHTTPRuntime.pools is indexed by
    // the loop's index) and only code running on that loop's thread reaches it.
    /// Idle links by server, in a class of their own so that taking one is a lookup and an
    /// in-place pop: Dictionary's `modify` accessor allocated three times per request.
    private final class IdleLinks {
        var links: [ServerLink] = []
    }

    private var idle: [Endpoint: IdleLinks] = [:]
    private var sessions: [Endpoint: TLSSessionSlot] = [:]

    /// Where the TLS session of `endpoint` is kept between connections on this loop.
    func session(for endpoint: Endpoint) -> TLSSessionSlot {
        if let slot = sessions[endpoint] { return slot }
        let slot = TLSSessionSlot()
        sessions[endpoint] = slot
        return slot
    }

    /// The newest idle link to `endpoint`, if any.
    func take(_ endpoint: Endpoint) -> ServerLink? {
        idle[endpoint]?.links.popLast()
    }

    /// Keeps `link` unless `capacity` links to its server idle already.
    func put(_ link: ServerLink, capacity: Int, until: UInt64, context: LoopContext) {
        let links: IdleLinks
        if let existing = idle[link.endpoint] {
            links = existing
        } else {
            links = IdleLinks()
            idle[link.endpoint] = links
        }
        guard links.links.count < capacity else {
            link.close(context: context)
            return
        }
        links.links.append(link)
        link.idle(in: self, until: until, context: context)
    }

    func remove(_ link: ServerLink) {
        guard let links = idle[link.endpoint], let index = links.links.firstIndex(where: { $0 === link }) else {
            return
        }
        links.links.remove(at: index)
    }

    /// Closes every idle link.
    func closeAll(context: LoopContext) {
        let all = idle.values.flatMap { $0.links }
        idle.removeAll()
        for link in all { link.close(context: context) }
    }
}
