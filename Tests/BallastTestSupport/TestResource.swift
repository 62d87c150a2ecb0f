import NIOCore
public import NIOPosix

/// What a test starts and must stop before it ends: a lab, a backend, a server.
public protocol TestResource {
    /// Stops it and frees what it holds (ports, processes, threads).
    func tearDown() async
}

/// Runs `body` with `resource`, then awaits `resource.tearDown()`, whether `body` returned or
/// threw: a test ends only once what it started has stopped, so that the next one finds its
/// ports free and no task of it is left running.
public func using<Resource: TestResource, T>(
    _ resource: Resource, _ body: (Resource) async throws -> T
) async rethrows -> T {
    do {
        let result = try await body(resource)
        await resource.tearDown()
        return result
    } catch {
        await resource.tearDown()
        throw error
    }
}

extension RelayLab: TestResource {
    public func tearDown() async { await shutdown() }
}

extension TestBackend: TestResource {
    public func tearDown() async { await stop() }
}

extension TestHTTPBackend: TestResource {
    public func tearDown() async { await stop() }
}

extension MultiThreadedEventLoopGroup: TestResource {
    /// Shuts its threads down.
    public func tearDown() async { try? await shutdownGracefully() }
}

extension Array: TestResource where Element: TestResource {
    /// Tears each down, in order.
    public func tearDown() async {
        for resource in self { await resource.tearDown() }
    }
}
