/// The schema's versions, oldest first. One list for both backends; a step names the few
/// statements that differ between dialects.
enum Migrations {
    /// One version of the schema.
    struct Step: Sendable {
        let version: Int
        let summary: String
        let statements: @Sendable (SQLDialect) -> [String]
    }

    static let steps: [Step] = [
        Step(version: 1, summary: "directory: users, mailbox databases and copies, revision, history") { dialect in
            let serial = dialect == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
            return [
                "CREATE TABLE ballast_revision (id INTEGER PRIMARY KEY, revision BIGINT NOT NULL)",
                "INSERT INTO ballast_revision (id, revision) VALUES (1, 0)",
                """
                CREATE TABLE users (
                    sip_uri TEXT PRIMARY KEY,
                    auth_name TEXT NOT NULL UNIQUE,
                    mail TEXT UNIQUE,
                    ha1_md5 TEXT,
                    ha1_sha256 TEXT,
                    home_pool TEXT,
                    mailbox_database TEXT,
                    contacts TEXT NOT NULL DEFAULT '',
                    revision BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE mailbox_databases (
                    name TEXT PRIMARY KEY,
                    active_server TEXT NOT NULL,
                    revision BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE database_copies (
                    database_name TEXT NOT NULL REFERENCES mailbox_databases(name) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    server TEXT NOT NULL,
                    PRIMARY KEY (database_name, server)
                )
                """,
                """
                CREATE TABLE history (
                    id \(serial),
                    revision BIGINT NOT NULL,
                    at TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    detail TEXT NOT NULL
                )
                """,
                "CREATE INDEX history_subject ON history (subject, revision)",
                "CREATE INDEX users_database ON users (mailbox_database)",
            ]
        },
        Step(version: 2, summary: "sites fenced by plans; plans and their steps") { _ in
            [
                """
                CREATE TABLE sites (
                    name TEXT PRIMARY KEY,
                    fenced INTEGER NOT NULL,
                    changed_at TEXT NOT NULL,
                    revision BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE plans (
                    id TEXT PRIMARY KEY,
                    kind TEXT NOT NULL,
                    site TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    body TEXT NOT NULL,
                    status TEXT NOT NULL
                )
                """,
                """
                CREATE TABLE plan_steps (
                    plan_id TEXT NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
                    number INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    started_at TEXT,
                    finished_at TEXT,
                    result TEXT NOT NULL DEFAULT '',
                    PRIMARY KEY (plan_id, number)
                )
                """,
            ]
        },
        Step(version: 3, summary: "HA1 values for other spellings of digest usernames (user@, user@realm)") { _ in
            ["ALTER TABLE users ADD COLUMN ha1_aliases TEXT NOT NULL DEFAULT ''"]
        },
        Step(version: 4, summary: "one runner per plan: who applies it, until when") { _ in
            [
                "ALTER TABLE plans ADD COLUMN lease_owner TEXT NOT NULL DEFAULT ''",
                "ALTER TABLE plans ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0",
            ]
        },
        Step(version: 5, summary: "every record a plan's steps made, appended, never replaced") { dialect in
            let serial = dialect == .postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
            return [
                """
                CREATE TABLE plan_step_log (
                    id \(serial),
                    plan_id TEXT NOT NULL,
                    number INTEGER NOT NULL,
                    at TEXT NOT NULL,
                    runner TEXT NOT NULL,
                    status TEXT NOT NULL,
                    result TEXT NOT NULL
                )
                """,
                "CREATE INDEX plan_step_log_plan ON plan_step_log (plan_id, id)",
            ]
        },
    ]

    /// The newest version this program knows.
    static var latest: Int { steps.last?.version ?? 0 }
}
