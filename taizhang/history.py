"""Reading the audit log for people: entries with their changes in Chinese labels, and the
row values a restore puts back."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field

from taizhang.audit import LOG, UNAUDITED_COLUMNS
from taizhang.registers import Definition
from taizhang.schema import quote

OPERATIONS = {"insert": "新增", "update": "修改", "delete": "删除"}
SOURCES = {
    "ui": "网页", "api": "接口", "sql": "SQL", "cli": "命令行", "import": "导入",
    "restore": "恢复", "app": "应用", "unattributed": "应用外（未署名）",
}
PAGE_SIZE = 100
# SQLite before 3.42 writes an infinite REAL into json_object() as a bare Inf, which is not JSON:
# rows stored before such values were refused have entries like that. Strings are matched
# first so that the text "Inf" inside one is left alone.
_BARE_INF = re.compile(r'"(?:[^"\\]|\\.)*"|(-?)\bInf\b')


def _loads(text: str | None) -> dict | None:
    """An audit entry's row; None when there is none."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return json.loads(_BARE_INF.sub(lambda m: m[0] if m[0].startswith('"') else f"{m[1]}Infinity", text))


@dataclass
class Change:
    column: str
    label: str
    old: object
    new: object


@dataclass
class Entry:
    id: int
    at: str
    actor: str | None
    role: str | None
    source: str
    batch_id: str | None
    note: str | None
    database: str
    table: str
    table_label: str
    row_id: int
    operation: str
    before: dict | None
    after: dict | None
    changes: list[Change] = field(default_factory=list)

    @property
    def operation_label(self) -> str:
        return OPERATIONS.get(self.operation, self.operation)

    @property
    def source_label(self) -> str:
        return SOURCES.get(self.source, self.source)

    @property
    def restorable(self) -> dict | None:
        """The row as this entry left it (for a deletion: as it was before)."""
        return self.before if self.operation == "delete" else self.after


def _changes(definition: Definition, table: str, before: dict | None, after: dict | None) -> list[Change]:
    columns = list(dict.fromkeys([*(before or {}), *(after or {})]))
    out = []
    for column in columns:
        if column in UNAUDITED_COLUMNS or column == "id":
            continue
        old = (before or {}).get(column)
        new = (after or {}).get(column)
        if before is not None and after is not None and old == new:
            continue
        if old is None and new is None:
            continue
        out.append(Change(column, definition.column_label(table, column), old, new))
    return out


def entries(
    conn: sqlite3.Connection,
    definition: Definition,
    database: str,
    tables: list[str],
    row_id: int | None = None,
    log_id: int | None = None,
    actor: str | None = None,
    operation: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = PAGE_SIZE,
    rows: dict[str, str] | None = None,
) -> list[Entry]:
    """Newest first. `tables` limits the entries to registers the reader may see, `rows` (table
    -> SQL condition, taizhang/row_access.py) a narrowed register's to the rows they see now."""
    if not tables:
        return []
    where = [f"table_name IN ({', '.join('?' for _ in tables)})"]
    params: list = list(tables)
    for table, condition in (rows or {}).items():
        where.append(f"(table_name <> ? OR row_id IN (SELECT id FROM {quote(table)} WHERE {condition}))")
        params.append(table)
    for clause, value in (
        ("row_id = ?", row_id), ("id = ?", log_id), ("actor = ?", actor), ("operation = ?", operation),
        ("at >= ?", since), ("at < date(?, '+1 day')", until),
    ):
        if value not in (None, ""):
            where.append(clause)
            params.append(value)
    rows = conn.execute(
        f"SELECT id, at, actor, role, source, batch_id, note, table_name, row_id, operation, before, after"
        f" FROM {LOG} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    out = []
    for r in rows:
        before, after = _loads(r[10]), _loads(r[11])
        reg = definition.registers.get(r[7])
        out.append(Entry(
            id=r[0], at=r[1], actor=r[2], role=r[3], source=r[4], batch_id=r[5], note=r[6],
            database=database, table=r[7], table_label=reg.label if reg else r[7], row_id=r[8],
            operation=r[9], before=before, after=after,
            changes=_changes(definition, r[7], before, after),
        ))
    return out


def entry(conn: sqlite3.Connection, definition: Definition, database: str, table: str, log_id: int,
          rows: dict[str, str] | None = None) -> Entry | None:
    found = entries(conn, definition, database, [table], log_id=log_id, limit=1, rows=rows)
    return found[0] if found else None


def restore(conn: sqlite3.Connection, table: str, row_id: int, values: dict) -> str:
    """Put `values` back into the row (re-creating it if it was deleted). Returns 'update' or
    'insert'. Columns the table no longer has are skipped; id and timestamps are not copied."""
    present = {r[1] for r in conn.execute(f"PRAGMA table_info({quote(table)})")}
    values = {k: v for k, v in values.items() if k in present and k not in ("id", *UNAUDITED_COLUMNS)}
    exists = conn.execute(f"SELECT 1 FROM {quote(table)} WHERE id = ?", [row_id]).fetchone()
    if exists:
        if values:
            conn.execute(
                f"UPDATE {quote(table)} SET {', '.join(f'{quote(k)} = ?' for k in values)} WHERE id = ?",
                [*values.values(), row_id],
            )
        return "update"
    cols = ["id", *values]
    conn.execute(
        f"INSERT INTO {quote(table)} ({', '.join(map(quote, cols))}) VALUES ({', '.join('?' for _ in cols)})",
        [row_id, *values.values()],
    )
    return "insert"
