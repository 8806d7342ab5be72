"""Keeps each register's search table (<register>_fts) in step with the register.

Triggers put the id of every inserted, updated or deleted row in _search_queue — whatever
wrote it, a sqlite3 shell included. drain() turns queued rows into index text (see
taizhang/chinese.py). The app drains after each of its writes, in the same transaction, and
before answering a search, so a search never sees a stale row.
"""

from __future__ import annotations

import sqlite3

from taizhang.chinese import index_text
from taizhang.registers import Definition
from taizhang.schema import SEARCH_QUEUE, fts_table, quote


def queue_is_empty(conn: sqlite3.Connection) -> bool:
    try:
        return conn.execute(f"SELECT 1 FROM {SEARCH_QUEUE} LIMIT 1").fetchone() is None
    except sqlite3.OperationalError:  # a database without registers (the internal one)
        return True


def drain(conn: sqlite3.Connection, definition: Definition) -> int:
    """Index every queued row; returns how many rows were processed."""
    queued = conn.execute(f"SELECT table_name, row_id FROM {SEARCH_QUEUE}").fetchall()
    by_table: dict[str, list[int]] = {}
    for table, row_id in queued:
        by_table.setdefault(table, []).append(row_id)
    for table, ids in by_table.items():
        reg = definition.registers.get(table)
        if reg is None or not reg.search:
            continue
        fts = quote(fts_table(reg))
        cols = [quote(c) for c in reg.search]
        conn.executemany(f"DELETE FROM {fts} WHERE rowid = ?", [(i,) for i in ids])
        rows = []
        for chunk in _chunks(ids, 500):
            rows += conn.execute(
                f"SELECT id, {', '.join(cols)} FROM {quote(table)} "
                f"WHERE id IN ({', '.join('?' for _ in chunk)})",
                chunk,
            ).fetchall()
        conn.executemany(
            f"INSERT INTO {fts} (rowid, {', '.join(cols)}) VALUES (?{', ?' * len(cols)})",
            [(row[0], *(index_text(v) for v in row[1:])) for row in rows],
        )
    conn.execute(f"DELETE FROM {SEARCH_QUEUE}")
    return len(queued)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
