public import BallastCore
public import BallastStore
import Foundation

/// How a step of a plan ended, as the runner records it.
public enum StepOutcome: Hashable, Sendable {
    /// It did its work; `result` says what.
    case done(StepResult)
    /// There was nothing for it to do in this deployment; the text says why.
    case skipped(String)

    /// The status the plan's record keeps.
    public var status: StepStatus {
        switch self {
        case .done: .done
        case .skipped: .skipped
        }
    }

    /// The result the plan's record keeps.
    public var result: StepResult {
        switch self {
        case .done(let result): result
        case .skipped(let reason): .note(reason)
        }
    }
}

/// What a step leaves in the plan's record, for the operator and for the steps after it: a move
/// lists its users, an activation its databases, before acting, so that a resumed step finishes
/// the same list and a failback knows what to bring back.
public enum StepResult: Hashable, Sendable {
    /// A sentence for the operator.
    case note(String)
    /// The users (SIP URIs) a move step moves.
    case users([String])
    /// The databases an activation step moves to a copy outside the lost site.
    case activations([Activation])

    /// As the store keeps it: a JSON list for users and activations (`DB01:EX1>EX3`), the
    /// sentence otherwise.
    public var stored: String {
        switch self {
        case .note(let text): text
        case .users(let users): Self.encode(users)
        case .activations(let moves): Self.encode(moves.map(\.description))
        }
    }

    /// A step's stored result read back for `action`: the list a move or an activation step
    /// kept, nil when it kept none (it has not listed yet, or it is another kind of step).
    public static func listed(_ stored: String, by action: PlanStep.Action) -> StepResult? {
        guard let list = decode(stored) else { return nil }
        switch action {
        case .moveUsers: return .users(list)
        case .activateCopies: return .activations(list.compactMap(Activation.init))
        default: return nil
        }
    }

    /// A short form for progress lines: a list's length, the sentence otherwise.
    public var summary: String {
        switch self {
        case .note(let text): text
        case .users(let users): "\(users.count) listed"
        case .activations(let moves): "\(moves.count) listed"
        }
    }

    /// The users, when this is a move's list.
    public var users: [String]? {
        if case .users(let users) = self { users } else { nil }
    }

    /// The activations, when this is an activation's list.
    public var activations: [Activation]? {
        if case .activations(let moves) = self { moves } else { nil }
    }

    private static func encode(_ list: [String]) -> String {
        String(decoding: (try? JSONEncoder().encode(list)) ?? Data("[]".utf8), as: UTF8.self)
    }

    private static func decode(_ text: String) -> [String]? {
        guard text.hasPrefix("[") else { return nil }
        return try? JSONDecoder().decode([String].self, from: Data(text.utf8))
    }
}

/// One mailbox database made active on another copy: `DB01:EX1>EX3` in a plan's record.
public struct Activation: Hashable, Sendable, CustomStringConvertible {
    /// The database.
    public var database: String
    /// The server whose copy was active.
    public var from: String
    /// The server whose copy becomes active.
    public var to: String

    /// An activation of `database` from `from` to `to`.
    public init(database: String, from: String, to: String) {
        self.database = database
        self.from = from
        self.to = to
    }

    /// Reads `DB:FROM>TO`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let servers = parts[1].split(separator: ">").map(String.init)
        guard servers.count == 2, !parts[0].isEmpty, !servers[0].isEmpty, !servers[1].isEmpty else { return nil }
        self.init(database: String(parts[0]), from: servers[0], to: servers[1])
    }

    public var description: String { "\(database):\(from)>\(to)" }
}
