import BallastCore
import NIOCore

/// Idle keep-alive connections to servers, one pool per event loop so that a request takes
/// a connection on its own loop without a lock.
final class ServerConnectionPools: Sendable {
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<LoopPool>]

    init(group: any EventLoopGroup, capacity: Int) {
        var pools: [ObjectIdentifier: NIOLoopBoundBox<LoopPool>] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeBoxSendingValue(
                LoopPool(capacity: capacity), as: LoopPool.self, eventLoop: loop)
        }
        self.pools = pools
    }

    /// The pool of `eventLoop`; call on that loop. Nil for a loop outside the group.
    func pool(on eventLoop: any EventLoop) -> LoopPool? { pools[ObjectIdentifier(eventLoop)]?.value }

    /// Closes every idle connection, each on its own loop.
    func closeAll() {
        for bound in pools.values {
            bound.eventLoop.execute { bound.value.closeAll() }
        }
    }
}

/// The idle connections of one event loop, by server endpoint, newest last.
final class LoopPool {
    private var idle: [Endpoint: [ServerConnection]] = [:]
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// An open idle connection to `endpoint`, if there is one.
    func take(_ endpoint: Endpoint) -> ServerConnection? {
        while let connection = idle[endpoint]?.popLast() {
            connection.idleTimer?.cancel()
            connection.idleTimer = nil
            connection.handler.onClose = nil
            if connection.channel.isActive { return connection }
        }
        return nil
    }

    /// Keeps `connection` for the next request to its server, for at most `idleTimeout`.
    func put(_ connection: ServerConnection, idleTimeout: Duration) {
        guard connection.channel.isActive, (idle[connection.endpoint]?.count ?? 0) < capacity else {
            connection.channel.close(promise: nil)
            return
        }
        connection.reused = true
        connection.handler.owner = nil
        // Reads held for the last client's sake would never resume: the next client may never
        // become "writable again", and an idle connection must see its server's close.
        connection.handler.resumeReading()
        idle[connection.endpoint, default: []].append(connection)
        let channel = connection.channel
        connection.idleTimer = channel.eventLoop.scheduleTask(in: .init(idleTimeout)) { channel.close(promise: nil) }
        connection.handler.onClose = { [weak self, weak connection] in
            guard let self, let connection else { return }
            self.remove(connection)
        }
    }

    func closeAll() {
        let all = idle.values.flatMap { $0 }
        idle = [:]
        for connection in all { connection.channel.close(promise: nil) }
    }

    private func remove(_ connection: ServerConnection) {
        connection.idleTimer?.cancel()
        idle[connection.endpoint]?.removeAll { $0 === connection }
    }
}
