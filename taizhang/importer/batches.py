"""Import batches: what each run did, and undoing one.

Every change an import makes is in the audit log with the batch id, so undo needs no copy of
its own: inserted rows are deleted, updated rows put back, replaced-away rows restored. It refuses,
naming them, when a later change touched the same rows, and when the actor may not now make
every change it needs (rights.FOR_UNDO). The undo is itself audited.
"""

from __future__ import annotations

import json
import sqlite3

from taizhang import audit, search
from taizhang.datadir import DataDir, write_transactions
from taizhang.history import restore
from taizhang.importer import kept_keys, rights
from taizhang.importer.model import BATCHES, ensure_batches
from taizhang.registers import Definition, load
from taizhang.schema import quote


class UndoRefused(Exception):
    pass


class UndoNotAllowed(UndoRefused):
    """The actor lacks a right the undo needs now; `missing` holds (action, register) pairs."""

    def __init__(self, message: str, missing: list[tuple[str, str]]):
        super().__init__(message)
        self.missing = missing


def list_batches(data_dir: DataDir, definition: Definition | None = None) -> list[dict]:
    definition = definition or load()
    merged: dict[str, dict] = {}
    for name in definition.databases:
        conn = data_dir.connect(name)
        try:
            ensure_batches(conn)
            for row in conn.execute(f"SELECT id, started_at, finished_at, actor, mode, files, counts, status, owner FROM {BATCHES}"):
                batch = merged.setdefault(row[0], {
                    "id": row[0], "finished_at": row[2], "actor": row[3], "mode": row[4],
                    "files": json.loads(row[5]), "counts": {}, "status": row[7], "owner": row[8],
                })
                batch["counts"].update(json.loads(row[6]))
        finally:
            conn.close()
    return sorted(merged.values(), key=lambda b: b["id"], reverse=True)


def undo(data_dir: DataDir, batch_id: str, actor: str | None = None, definition: Definition | None = None,
         *, role: str | None = None, allowed: rights.Allowed | None = None) -> dict[str, int]:
    """Undo a batch in one transaction per file. `allowed` (None: a trusted caller, the command
    line without --actor) is asked, before anything is written, for every change the undo makes."""
    definition = definition or load()
    key = audit.key_from_secret(data_dir.secret())
    undone: dict[str, int] = {}
    advances = []
    with write_transactions(data_dir, definition.databases) as conns, audit.refusals_explained(conns.values(), UndoRefused):
        guards = kept_keys.guards(conns, data_dir, definition)
        found = False
        for conn in conns.values():
            ensure_batches(conn)
            status = conn.execute(f"SELECT status FROM {BATCHES} WHERE id = ?", [batch_id]).fetchone()
            if status is None:
                continue
            found = True
            if status[0] == "undone":
                raise UndoRefused(f"批次 {batch_id} 已经撤销过")
            entries = conn.execute(
                f"SELECT id, table_name, row_id, operation, before FROM {audit.LOG} WHERE batch_id = ? ORDER BY id DESC",
                [batch_id]).fetchall()
            _refuse_if_changed_since(conn, batch_id, entries, definition)
            if allowed is not None:
                lacking = rights.missing(allowed, {(rights.FOR_UNDO[e[3]], e[1]) for e in entries})
                if lacking:
                    raise UndoNotAllowed(
                        f"无法撤销批次 {batch_id}：撤销需要{rights.describe(lacking, definition)}的权限，你现在没有", lacking)
            mark = audit.begin(conn, audit.Who(actor=actor, role=role, source="import", batch_id=f"undo:{batch_id}",
                                        note=f"撤销导入批次 {batch_id}"))
            for _, table, row_id, operation, before in entries:
                try:
                    if operation == "insert":
                        conn.execute(f"DELETE FROM {quote(table)} WHERE id = ?", [row_id])
                    else:
                        restore(conn, table, row_id, json.loads(before))
                except sqlite3.IntegrityError:
                    reg = definition.registers.get(table)
                    raise UndoRefused(
                        f"无法撤销：{reg.label if reg else table} id {row_id} 已被其他记录引用；请先处理引用它的记录")
                undone[table] = undone.get(table, 0) + 1
            conn.execute(f"UPDATE {BATCHES} SET status = 'undone' WHERE id = ?", [batch_id])
            search.drain(conn, definition)
            advances.append(audit.finish(conn, key, mark))
        if not found:
            raise UndoRefused(f"没有导入批次 {batch_id}（用 taizhang imports list 查看）")
        for name, guard in guards.items():   # removing an imported employee that agreements now name
            if lost := guard.lost(conns[name], conns.get(guard.refs[0].source.database)):
                raise UndoRefused("无法撤销：" + "；".join(item.sentence for item in lost))
    for advance in filter(None, advances):   # once committed
        advance.apply(key)
    return undone


def _refuse_if_changed_since(conn, batch_id: str, entries, definition: Definition) -> None:
    if not entries:
        return
    last = max(e[0] for e in entries)
    touched = {(e[1], e[2]) for e in entries}
    # A later batch that was undone, together with its undo, left the rows as this batch did.
    undone = {r[0] for r in conn.execute(f"SELECT id FROM {BATCHES} WHERE status = 'undone'")}
    later = conn.execute(
        f"SELECT table_name, row_id, actor, at, batch_id FROM {audit.LOG} WHERE id > ? AND coalesce(batch_id, '') != ?",
        [last, batch_id]).fetchall()
    conflicts = [row[:4] for row in later if (row[0], row[1]) in touched
                 and (row[4] or "").removeprefix("undo:") not in undone]
    if conflicts:
        shown = "；".join(
            f"{definition.registers[t].label if t in definition.registers else t} id {r}（{a or '未署名'} 于 {at[:16]} 修改）"
            for t, r, a, at in conflicts[:10])
        raise UndoRefused(f"无法撤销批次 {batch_id}：导入后这些记录又被修改过：{shown}。请先处理这些修改。")
