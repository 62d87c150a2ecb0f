public import BallastCore
import CoreMetrics
public import Logging
import Synchronization

/// Where every listener reports bad input: malformed packets and commands, refused requests,
/// clients over a limit. Each report is counted in `ballast_bad_input_total{listener,reason}`;
/// the first few per listener and reason in each interval are logged whole, with the client's
/// address, and the rest as one summary line when the interval ends (see `BadInputSummary`).
public final class BadInputLog: Sendable {
    /// The log every listener of this process reports to.
    public static let shared = BadInputLog()

    private struct Tables {
        var summary: BadInputSummary
        var counters: [BadInputSummary.Key: Counter] = [:]
        var loggers: [BadInputSummary.Key: Logger] = [:]
        var nextFlush: ContinuousClock.Instant
    }

    private let tables: Mutex<Tables>

    /// A log with its own summary limits (tests use short intervals).
    public init(summary: BadInputSummary = BadInputSummary()) {
        tables = Mutex(Tables(summary: summary, nextFlush: .now + summary.interval))
    }

    /// Reports one bad input. `client` and `detail` are only formatted when the line is logged whole.
    public func report(
        listener: String, reason: String, client: @autoclosure () -> String, logger: Logger,
        detail: @autoclosure () -> String = "", now: ContinuousClock.Instant = .now
    ) {
        let key = BadInputSummary.Key(listener: listener, reason: reason)
        let (full, counter, due) = tables.withLock { tables in
            let (full, filed) = tables.summary.record(key, now: now)
            let counter =
                tables.counters[filed]
                ?? Counter(
                    label: "ballast_bad_input_total",
                    dimensions: [("listener", filed.listener), ("reason", filed.reason)])
            tables.counters[filed] = counter
            tables.loggers[filed] = logger
            return (full, counter, now >= tables.nextFlush)
        }
        counter.increment()
        if full {
            var metadata: Logger.Metadata = ["listener": "\(listener)", "reason": "\(reason)", "client": "\(client())"]
            let detail = detail()
            if !detail.isEmpty { metadata["detail"] = "\(detail)" }
            logger.info("bad input", metadata: metadata)
        }
        if due { flush(now: now) }
    }

    /// Logs a summary line for each listener and reason whose interval ended with reports left unlogged.
    public func flush(now: ContinuousClock.Instant = .now) {
        let lines = tables.withLock { tables -> [(BadInputSummary.Summary, Logger?)] in
            tables.nextFlush = now + .seconds(1)
            return tables.summary.flush(now: now).map { summary in
                (summary, tables.loggers[summary.key])
            }
        }
        for (summary, logger) in lines {
            logger?.notice(
                "bad input summarised",
                metadata: [
                    "listener": "\(summary.key.listener)", "reason": "\(summary.key.reason)",
                    "total": "\(summary.total)", "not-logged": "\(summary.suppressed)",
                ])
        }
    }
}
