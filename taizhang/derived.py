"""Everything that derives from the definition and the live schema — the registers' CHECK
constraints, queue tables, indexes, search tables, triggers (validation, search, audit) — made
to match, idempotently.

Run by `taizhang init` after the migrations, and by the app after any write that changed a
table's columns, so a trigger never misses a column (the audit log would not record it).
"""

from __future__ import annotations

import sqlite3

from taizhang import audit
from taizhang.registers import Definition, Register
from taizhang.schema import (
    QUEUES_SQL,
    SEARCH_QUEUE,
    TRIGGER_PREFIX,
    fts_sql,
    fts_table,
    indexes_sql,
    literal,
    quote,
    triggers_sql,
    update_checks,
)


def _sync_fts(conn: sqlite3.Connection, reg: Register) -> list[str]:
    """Create the register's search table, rebuilding it when its columns changed."""
    name = fts_table(reg)
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [name]).fetchone()
    wanted = fts_sql(reg)
    if row and row[0] == wanted:
        return []
    if row:
        conn.execute(f"DROP TABLE {quote(name)}")
    conn.execute(wanted)
    # Every row goes through the queue, so the app fills the new index on its next drain.
    conn.execute(
        f"INSERT OR IGNORE INTO {SEARCH_QUEUE} (table_name, row_id) "
        f"SELECT {literal(reg.name)}, id FROM {quote(reg.name)}"
    )
    return [name]


def sync(conn: sqlite3.Connection, definition: Definition, database: str) -> list[str]:
    """(Re)create what derives from the definition — queues, indexes, search tables and
    triggers — so that a changed definition never leaves a stale trigger. Returns what changed."""
    changed = []
    audit.upgrade_context(conn)
    for sql in [*QUEUES_SQL, *audit.SCHEMA_STATEMENTS]:
        conn.execute(sql)
    existing = {
        name: sql
        for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    }
    wanted: dict[str, str] = {}
    for reg in definition.registers_in(database):
        if update_checks(conn, reg):
            changed.append(reg.name)
        for sql in indexes_sql(reg):
            conn.execute(sql)
        if reg.search:
            changed += _sync_fts(conn, reg)
        wanted.update(triggers_sql(reg))
    wanted.update(audit.triggers(conn, definition, database))
    for name, sql in existing.items():
        if name.startswith(TRIGGER_PREFIX) and wanted.get(name) != sql:
            conn.execute(f"DROP TRIGGER {quote(name)}")
    for name, sql in wanted.items():
        if existing.get(name) != sql:
            conn.execute(sql)
            changed.append(name)
    return changed
