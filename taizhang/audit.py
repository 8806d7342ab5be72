"""The audit log: every change to a register, whatever wrote it, in the same transaction and
the same database file as the change.

Triggers on each register write one `_audit_log` row per inserted, updated or deleted row,
with the whole row before and after as JSON. Who made the change comes from `_audit_context`,
a one-row table the writer fills at the start of its transaction (plugins/audit.py for every
Datasette write, `audited()` below for the CLI and imports) and empties before commit — a table,
not a SQL function, because Datasette compiles writable stored queries on connections without
plugin functions. A write from a sqlite3 shell finds no context and is recorded `unattributed`.

The log is append-only (triggers refuse UPDATE and DELETE) and sealed with an HMAC chain keyed
by the instance secret, which plain SQLite cannot compute: each transaction the app writes adds
one `_audit_seal` row covering exactly the log rows that transaction added, chained to the seal
before it. Rows written outside the app are never sealed, so `taizhang audit verify` reports
them for as long as they exist, along with any sealed row changed or removed; the chain head is
also kept outside the file (taizhang/audit_head.py), so removing the newest rows with their
seals is found too. While the app writes, no SQL it runs for anyone may touch these tables
(taizhang/audit_guard.py). One seal per transaction, not per row, keeps a 20,000-row import's
audit cost to one pass over its rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import sqlite3
from dataclasses import dataclass

from taizhang import audit_guard, audit_head, clock, people
# _read_log: who read the confidential registers (only in files that hold one).
from taizhang.audit_guard import CONTEXT, LOG, READ_LOG, SEAL
from taizhang.audit_head import GENESIS, Head, Problem
from taizhang.registers import Definition, load
from taizhang.schema import TRIGGER_PREFIX, quote, triggers_sql
# Columns the app maintains itself: a change to them alone is not a change to the record.
UNAUDITED_COLUMNS = ("created_at", "updated_at")
LOG_FIELDS = (
    "id", "at", "actor", "role", "source", "batch_id", "request_path", "note",
    "table_name", "row_id", "operation", "before", "after",
)

SCHEMA_STATEMENTS = [s.strip() for s in f"""
CREATE TABLE IF NOT EXISTS {LOG} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  actor TEXT,
  role TEXT,
  source TEXT NOT NULL,
  batch_id TEXT,
  request_path TEXT,
  note TEXT,
  table_name TEXT NOT NULL,
  row_id INTEGER NOT NULL,
  operation TEXT NOT NULL CHECK (operation IN ('insert', 'update', 'delete')),
  before TEXT,
  after TEXT
);
CREATE TABLE IF NOT EXISTS {SEAL} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  first_log_id INTEGER NOT NULL,
  last_log_id INTEGER NOT NULL,
  seal TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_audit_log_row ON {LOG} (table_name, row_id);
CREATE TABLE IF NOT EXISTS {READ_LOG} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  actor TEXT,
  role TEXT,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  query TEXT
);
CREATE TABLE IF NOT EXISTS {CONTEXT} (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  actor TEXT,
  role TEXT,
  source TEXT NOT NULL,
  batch_id TEXT,
  request_path TEXT,
  note TEXT,
  employee_id INTEGER,
  roles TEXT,
  local_date TEXT,
  local_time TEXT
)
""".split(";") if s.strip()]
APPEND_ONLY_MESSAGE = "审计日志只能追加，不能修改或删除"


def upgrade_context(conn: sqlite3.Connection) -> None:
    """A file made before the context knew the writer's employee, roles and local time gets the
    new table; it holds no row between writes, so it is simply made again."""
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({CONTEXT})")]
    if columns and "local_time" not in columns:
        conn.execute(f"DROP TABLE {CONTEXT}")


@dataclass(frozen=True)
class Who:
    """Who is writing, as the audit log records it."""

    actor: str | None
    role: str | None
    source: str  # ui | api | sql | cli | import | restore
    request_path: str | None = None
    batch_id: str | None = None
    note: str | None = None
    # For the workflow triggers (taizhang/workflow.py): the writer's employee (employees.employee_no)
    # and every role they hold, derived ones included; `role` alone when not given.
    employee_no: str | None = None
    roles: tuple[str, ...] | None = None

    @property
    def all_roles(self) -> tuple[str, ...]:
        return tuple(self.roles) if self.roles is not None else ((self.role,) if self.role else ())


def append_only_triggers() -> dict[str, str]:
    refuse = f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
    triggers = {}
    for table, name in ((LOG, "audit_log"), (SEAL, "audit_seal"), (READ_LOG, "read_log")):
        for operation in ("update", "delete"):
            trigger = f"{TRIGGER_PREFIX}{name}_no_{operation}"
            triggers[trigger] = f"CREATE TRIGGER {quote(trigger)} BEFORE {operation.upper()} ON {table} {refuse}"
    return triggers


def table_triggers(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Audit triggers for one register, from its columns as they are now in the file — so a
    column added by ALTER TABLE is recorded once the triggers are regenerated."""
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({quote(table)})")]
    audited = [c for c in columns if c not in UNAUDITED_COLUMNS]

    def row_json(alias: str) -> str:
        return "json_object(" + ", ".join(f"'{c}', {alias}.{quote(c)}" for c in columns) + ")"

    def insert_log(operation: str, row_id: str, before: str, after: str) -> str:
        return (
            f"INSERT INTO {LOG} (actor, role, source, batch_id, request_path, note, table_name,"
            f" row_id, operation, before, after) SELECT c.actor, c.role,"
            f" coalesce(c.source, 'unattributed'), c.batch_id, c.request_path, c.note,"
            f" '{table}', {row_id}, '{operation}', {before}, {after}"
            f" FROM (SELECT 1) LEFT JOIN {CONTEXT} c;"
        )

    changed = " OR ".join(f"OLD.{quote(c)} IS NOT NEW.{quote(c)}" for c in audited)
    t = quote(table)
    names = {op: f"{TRIGGER_PREFIX}audit_{table}_{op}" for op in ("insert", "update", "delete")}
    return {
        names["insert"]: (
            f"CREATE TRIGGER {quote(names['insert'])} AFTER INSERT ON {t} BEGIN "
            + insert_log("insert", "NEW.id", "NULL", row_json("NEW")) + " END"
        ),
        names["update"]: (
            f"CREATE TRIGGER {quote(names['update'])} AFTER UPDATE ON {t} WHEN {changed} BEGIN "
            + insert_log("update", "NEW.id", row_json("OLD"), row_json("NEW")) + " END"
        ),
        names["delete"]: (
            f"CREATE TRIGGER {quote(names['delete'])} AFTER DELETE ON {t} BEGIN "
            + insert_log("delete", "OLD.id", row_json("OLD"), "NULL") + " END"
        ),
    }


def triggers(conn: sqlite3.Connection, definition: Definition, database: str) -> dict[str, str]:
    wanted = append_only_triggers()
    for reg in definition.registers_in(database):
        wanted.update(table_triggers(conn, reg.name))
    return wanted


# -- writing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mark:
    """Where a write began: the newest log row before it (`finish()` seals what came after — so
    rows a shell wrote earlier are never sealed as the app's) and sqlite_sequence's rows for the
    log and the seals, which no statement of the write may change (see `_sequences_kept`)."""

    log_id: int
    sequences: tuple


def _sequences(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    rows = conn.execute(f"SELECT name, seq FROM {audit_guard.SEQUENCE} WHERE name IN (?, ?) ORDER BY name, seq",
                        [LOG, SEAL])
    return [tuple(row) for row in rows]   # Datasette's connections give sqlite3.Row


def _sequences_kept(conn: sqlite3.Connection, mark: Mark) -> None:
    """Refuse a write whose SQL changed the log's or the seals' counter: raised, verify would
    report a cut tail that never was; lowered or removed, a cut tail would go unseen."""
    if len(dict(mark.sequences)) != len(mark.sequences):
        return   # a counter written twice before this write began: verify's to report, not the writer's
    expected = dict(mark.sequences)
    newest = conn.execute(f"SELECT max(id) FROM {LOG}").fetchone()[0] or 0
    if newest > expected.get(LOG, 0):
        expected[LOG] = newest   # the write's own log rows move the counter on, as SQLite does
    if _sequences(conn) != sorted(expected.items()):
        raise audit_guard.ProtectedTableRefused(audit_guard.Refusal("update", audit_guard.SEQUENCE))


def employee_id(conn: sqlite3.Connection, employee_no: str | None) -> int | None:
    """The writer's employees.id, as the context records it (None in a file without employees)."""
    if not employee_no or not conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'employees'").fetchone():
        return None
    found = conn.execute("SELECT id FROM employees WHERE employee_no = ?", [employee_no]).fetchone()
    return found[0] if found else None


def _local_time() -> tuple[str, str]:
    """Today and this minute where the department is (SQLite's 'now' is UTC), for the triggers
    that fill in a date or time a transition sets."""
    now = clock.now()
    return now.date().isoformat(), now.strftime("%Y-%m-%d %H:%M")


def begin(conn: sqlite3.Connection, who: Who) -> Mark:
    """Say who is writing and put the guard on; call inside the write's transaction (holding
    the write lock), before the change. Returns the mark `finish()` seals after."""
    audit_guard.remove(conn)   # a guard left by a write that never finished
    conn.execute(
        f"INSERT OR REPLACE INTO {CONTEXT} (id, actor, role, source, batch_id, request_path, note, employee_id, roles,"
        " local_date, local_time) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [who.actor, who.role, who.source, who.batch_id, who.request_path, who.note,
         employee_id(conn, who.employee_no), people.roles_text(who.all_roles), *_local_time()],
    )
    mark = Mark(conn.execute(f"SELECT coalesce(max(id), 0) FROM {LOG}").fetchone()[0], tuple(_sequences(conn)))
    # The app's own writes with no request behind them (source "app") only log reads.
    audit_guard.install(conn, *own_triggers(conn), may_log_reads=who.source == "app")
    return mark


# file -> (connection id, schema version, the app's own triggers in it): one entry per file, so
# short-lived connections (CLI, web imports) do not pile up. A schema change by anyone bumps the
# version; SQLite itself re-reads the schema on the same signal.
_own_triggers: dict[str, tuple[int, int, tuple[frozenset[str], frozenset[str]]]] = {}


def own_triggers(conn: sqlite3.Connection) -> tuple[frozenset[str], frozenset[str]]:
    """(the audit triggers, every trigger) in the file whose SQL is exactly what the app generates
    for its table as it is now — not one planted or rewritten around the app. The first alone may
    write the log; only the second may write anything at all, so a planted trigger cannot make
    the app's own audit triggers log (and seal, as the writer's) a change the writer never made."""
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    file = str(audit_head.path_of(conn))
    cached = _own_triggers.get(file)
    if cached and cached[:2] == (id(conn), version):
        return cached[2]
    found = conn.execute("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    registers = load().registers
    audit_expected: dict[str, str] = {}
    expected: dict[str, str] = {}
    for table in {t for _, t, _ in found if t not in audit_guard.LABELS}:
        audit_expected.update(table_triggers(conn, table))
        if table in registers:
            expected.update(triggers_sql(registers[table]))
    expected.update(append_only_triggers())
    expected.update(audit_expected)
    audits = frozenset(name for name, _, sql in found if audit_expected.get(name) == sql)
    every = frozenset(name for name, _, sql in found if expected.get(name) == sql)
    _own_triggers[file] = (id(conn), version, (audits, every))
    return audits, every


def release(conn: sqlite3.Connection) -> audit_guard.Refusal | None:
    """Take the guard off a write that failed; returns what the guard refused, if anything."""
    return audit_guard.remove(conn)


def finish(conn: sqlite3.Connection, key: bytes, mark: Mark) -> audit_head.Advance | None:
    """Take the guard off, forget who is writing and seal the log rows this transaction wrote;
    call before commit. Returns the head to record once committed (`Advance.apply`), if any."""
    audit_guard.remove(conn)
    _sequences_kept(conn, mark)
    conn.execute(f"DELETE FROM {CONTEXT}")
    head = seal(conn, key, mark.log_id)
    return audit_head.advance(conn, key, head) if head else None


@contextlib.contextmanager
def audited(conn: sqlite3.Connection, who: Who, key: bytes):
    """One transaction whose changes are recorded as made by `who` (CLI, imports)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        mark = begin(conn, who)
        try:
            yield conn
        except BaseException as ex:
            explained = audit_guard.explained(ex, release(conn))
            if explained is ex:
                raise
            raise explained from ex
        advance = finish(conn, key, mark)
    except BaseException:
        release(conn)
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    if advance:
        advance.apply(key)


@contextlib.contextmanager
def refusals_explained(conns, as_error=None):
    """Around guarded writes on several connections (imports): SQLite's bare "not authorized"
    becomes the guard's Chinese sentence, raised as `as_error(sentence)` when given."""
    try:
        yield
    except sqlite3.DatabaseError as ex:
        refusal = next(filter(None, [release(conn) for conn in conns]), None)
        if refusal is None:
            raise
        refused = audit_guard.ProtectedTableRefused(refusal)
        raise (as_error(str(refused)) if as_error else refused) from ex


def key_from_secret(secret: str) -> bytes:
    return hashlib.sha256(b"taizhang audit seal\0" + secret.encode()).digest()


def _rows_digest(key: bytes, previous: str, rows) -> tuple[str, int | None, int | None, list[int]]:
    """HMAC over the previous seal and the rows, in order: (digest, first id, last id, ids)."""
    mac = hmac.new(key, previous.encode(), hashlib.sha256)
    ids = []
    for row in rows:
        # Fields joined by a unit separator, NULL as a NUL byte: unambiguous, and much cheaper
        # than serialising each row again.
        mac.update("\x1f".join("\x00" if v is None else str(v) for v in row).encode() + b"\x1e")
        ids.append(row[0])
    return mac.hexdigest(), (ids[0] if ids else None), (ids[-1] if ids else None), ids


def seal(conn: sqlite3.Connection, key: bytes, mark: int) -> Head | None:
    """Seal the log rows written after `mark` — by this transaction, which holds the write lock,
    so no other writer's rows can be among them — chained to the last seal. Rows written outside
    the app stay outside every seal. Returns the new head (None if nothing was logged)."""
    previous = audit_head.current(conn).seal
    rows = conn.execute(f"SELECT {', '.join(LOG_FIELDS)} FROM {LOG} WHERE id > ? ORDER BY id", [mark])
    digest, first, last, ids = _rows_digest(key, previous, rows)
    if not ids:
        return None
    cursor = conn.execute(
        f"INSERT INTO {SEAL} (first_log_id, last_log_id, seal) VALUES (?, ?, ?)", [first, last, digest]
    )
    return Head(cursor.lastrowid, last, digest)


def verify(conn: sqlite3.Connection, key: bytes, database: str) -> list[Problem]:
    """Problems with the log, its seals and its recorded head (kind + sentence); empty when intact.

    Seals may have gaps between them: rows written outside the app (a sqlite3 shell) lie between
    two seals, or after the last, and are reported as unsealed for as long as they exist."""
    problems = []
    previous, covered, expected_seal = GENESIS, 0, 1
    fields = ", ".join(LOG_FIELDS)
    name = f"{database}.db 审计日志"
    unsealed: list[int] = []
    seals = conn.execute(f"SELECT id, first_log_id, last_log_id, seal FROM {SEAL} ORDER BY id").fetchall()
    for seal_id, first, last, stored in seals:
        if seal_id != expected_seal:
            problems.append(Problem("seal_deleted", f"{name}的第 {_ranges(list(range(expected_seal, seal_id)))} 号封存记录已被删除"))
        if first <= covered or last < first:
            problems.append(Problem("seal_forged", f"{name}第 {seal_id} 号封存记录的范围（第 {first}–{last} 条）与之前的封存重叠：封存记录被伪造"))
        unsealed += _ids(conn, covered, first)
        rows = conn.execute(f"SELECT {fields} FROM {LOG} WHERE id BETWEEN ? AND ? ORDER BY id", [first, last])
        digest, _, _, ids = _rows_digest(key, previous, rows)
        missing = sorted(set(range(first, last + 1)) - set(ids))
        if missing:
            problems.append(Problem("deleted", f"{name}第 {_ranges(missing)} 条已被删除"))
        elif digest != stored:
            problems.append(Problem("changed", f"{name}第 {first}–{last} 条（同一次写入）与封存值不符：记录被改动或伪造，或之前的封存记录被删除"))
        previous, covered, expected_seal = stored, max(covered, last), seal_id + 1
    unsealed += _ids(conn, covered, None)
    if unsealed:
        problems.append(Problem("unsealed", f"{name}第 {_ranges(unsealed)} 条未封存：不是应用写入的"
                                "（例如用 sqlite3 命令行直接写入），内容和来源都无法确认"))
    last_log = max([covered, *unsealed])
    for table, last_known in ((LOG, last_log), (SEAL, expected_seal - 1)):
        sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [table]).fetchone()
        if sequence and sequence[0] > last_known:
            problems.append(Problem("tail_deleted", f"{name}末尾的记录已被删除（{table} 曾到第 {sequence[0]} 条）"))
    return problems + audit_head.problems(conn, key, name)


def _ids(conn: sqlite3.Connection, after: int, before: int | None) -> list[int]:
    """Log ids strictly between two points (no upper bound with None)."""
    if before is None:
        return [r[0] for r in conn.execute(f"SELECT id FROM {LOG} WHERE id > ? ORDER BY id", [after])]
    return [r[0] for r in conn.execute(f"SELECT id FROM {LOG} WHERE id > ? AND id < ? ORDER BY id", [after, before])]


def _ranges(ids: list[int]) -> str:
    """[3, 4, 5, 9] -> '3–5、9'."""
    parts, start = [], None
    for i, value in enumerate(ids):
        if start is None:
            start = value
        if i + 1 == len(ids) or ids[i + 1] != value + 1:
            parts.append(f"{start}–{value}" if value != start else str(start))
            start = None
    return "、".join(parts)
