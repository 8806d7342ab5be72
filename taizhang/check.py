"""`taizhang check`: problems a write made outside the app (a sqlite3 shell, a copied file)
could leave behind: corruption, broken foreign keys, dangling cross-file references and
search index backlog."""

from __future__ import annotations

import sqlite3

from taizhang import search, xref
from taizhang.datadir import DataDir
from taizhang.registers import Definition, load
from taizhang.schema import quote


def problems(data_dir: DataDir, definition: Definition | None = None, fix: bool = False) -> list[str]:
    definition = definition or load()
    found: list[str] = []
    conns = {name: data_dir.connect(name) for name in definition.databases}
    try:
        for name, conn in conns.items():
            found += _integrity(conn, name)
            found += _foreign_keys(conn, definition)
            for target in {definition.registers[ref["register"]].database
                           for reg in definition.registers_in(name)
                           for ref in reg.cross_references.values()}:
                found += [d.sentence for d in xref.dangling(conn, conns[target], definition, name, only_queued=False)]
            if not search.queue_is_empty(conn):
                if fix:
                    with conn:
                        conn.execute("BEGIN")
                        search.drain(conn, definition)
                else:
                    count = conn.execute("SELECT count(*) FROM _search_queue").fetchone()[0]
                    found.append(
                        f"{name}.db：{count} 行的全文索引尚未更新（运行 taizhang check --fix 或任一次网页写入即可更新）"
                    )
    finally:
        for conn in conns.values():
            conn.close()
    return found


def _integrity(conn: sqlite3.Connection, name: str) -> list[str]:
    result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    return [] if result == ["ok"] else [f"{name}.db 完整性检查失败：{r}" for r in result]


def _foreign_keys(conn: sqlite3.Connection, definition: Definition) -> list[str]:
    found = []
    for table, rowid, parent, fkid in conn.execute("PRAGMA foreign_key_check"):
        reg = definition.registers.get(table)
        fk = conn.execute(f"PRAGMA foreign_key_list({quote(table)})").fetchall()
        column = next((row[3] for row in fk if row[0] == fkid), "?")
        label = reg.columns[column].label if reg and column in reg.columns else column
        value = conn.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE rowid = ?", [rowid]).fetchone()
        where = reg.label if reg else table
        found.append(f"{where}（id {rowid}）的{label}指向不存在的记录（{parent} id {value[0] if value else '?'}）")
    return found
