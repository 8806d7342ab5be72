"""References from hr.db into ops.db (工号, partner name), which no foreign key can check
across two files. The app checks the rows its own writes touched (triggers queue them in
_xref_queue); `taizhang check` scans everything for writes made outside the app."""

from __future__ import annotations

import sqlite3

from taizhang.registers import Definition
from taizhang.schema import XREF_QUEUE, literal, quote


def dangling(
    conn: sqlite3.Connection,
    lookup: sqlite3.Connection,
    definition: Definition,
    database: str,
    only_queued: bool,
) -> list[str]:
    """Problems, as Chinese sentences, for cross-file references that point nowhere.

    `conn` is the database holding the references, `lookup` one that can read the targets.
    """
    problems = []
    for reg in definition.registers_in(database):
        for column, ref in reg.cross_references.items():
            target = definition.registers[ref["register"]]
            where = " AND ".join(
                f"{quote(k)} = ?" for k in (ref.get("when") or {})
            ) or "1"
            sql = (
                f"SELECT id, {quote(column)} FROM {quote(reg.name)} "
                f"WHERE {quote(column)} IS NOT NULL AND {where}"
            )
            if only_queued:
                sql += f" AND id IN (SELECT row_id FROM {XREF_QUEUE} WHERE table_name = {literal(reg.name)})"
            for row_id, value in conn.execute(sql, list((ref.get("when") or {}).values())):
                found = lookup.execute(
                    f"SELECT 1 FROM {quote(target.name)} WHERE {quote(ref['column'])} = ?", [value]
                ).fetchone()
                if not found:
                    label = reg.columns[column].label
                    target_label = target.columns[ref["column"]].label
                    problems.append(
                        f"{reg.label}（id {row_id}）的{label}「{value}」在{target.label}中不存在"
                        f"（按{target_label}查找）"
                    )
    return problems


def clear_queue(conn: sqlite3.Connection) -> None:
    try:
        conn.execute(f"DELETE FROM {XREF_QUEUE}")
    except sqlite3.OperationalError:
        pass

