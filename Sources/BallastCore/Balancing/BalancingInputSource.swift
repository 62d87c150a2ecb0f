import Atomics

/// Draws the inputs of one relay's balancing decisions: a shared counter for round-robin and a
/// random value for random balancing, so that the decisions themselves stay pure.
public final class BalancingInputSource: Sendable {
    private let sequence = ManagedAtomic<UInt64>(0)
    private let seed = UInt64.random(in: .min ... .max)

    /// A source starting at zero with a fresh seed.
    public init() {}

    /// The input of the next decision for `client`.
    public func next(client: IPAddress) -> BalancingInput {
        let n = sequence.loadThenWrappingIncrement(ordering: .relaxed)
        return BalancingInput(client: client, sequence: n, random: StableHash.mix(n ^ seed))
    }
}
