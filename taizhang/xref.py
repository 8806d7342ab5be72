"""References from hr.db into ops.db (工号, partner name), which no foreign key can check
across two files. The app checks the rows its own writes touched (triggers queue them in
_xref_queue); `taizhang check` scans everything for writes made outside the app."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from taizhang.messages import Refusal, Refused
from taizhang.registers import Definition, Register
from taizhang.schema import XREF_QUEUE, literal, quote


@dataclass(frozen=True)
class Dangling:
    """A cross-file reference that points nowhere: the column holding it and the sentence."""

    column: str
    sentence: str


def dangling(
    conn: sqlite3.Connection,
    lookup: sqlite3.Connection,
    definition: Definition,
    database: str,
    only_queued: bool,
) -> list[Dangling]:
    """Problems for cross-file references that point nowhere.

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
            missing: dict[object, list[int]] = {}
            for row_id, value in conn.execute(sql, list((ref.get("when") or {}).values())):
                found = lookup.execute(
                    f"SELECT 1 FROM {quote(target.name)} WHERE {quote(ref['column'])} = ?", [value]
                ).fetchone()
                if not found:
                    missing.setdefault(value, []).append(row_id)
            label = reg.columns[column].label
            target_label = target.columns[ref["column"]].label
            for value, ids in missing.items():
                if only_queued:   # a write's refusal: the rows it wrote
                    problems += [Dangling(column, f"{reg.label}（id {i}）的{label}「{value}」在{target.label}中不存在"
                                                  f"（按{target_label}查找）") for i in ids]
                else:   # the report: one line per dangling key, with how many rows name it
                    shown = "、".join(map(str, ids[:10])) + ("…" if len(ids) > 10 else "")
                    problems.append(Dangling(column, f"{reg.label}的{label}「{value}」在{target.label}中不存在"
                                                     f"（按{target_label}查找）：{len(ids)} 条{reg.label}引用它（id {shown}）"))
    return problems


def clear_queue(conn: sqlite3.Connection) -> None:
    try:
        conn.execute(f"DELETE FROM {XREF_QUEUE}")
    except sqlite3.OperationalError:
        pass



# -- the other direction: ops.db rows that hr.db rows name ------------------------------------
# A rename of a 工号 / partner name, or a delete, would leave agreements pointing nowhere. ops.db
# cannot see hr.db, so the writer notes which referred-to keys exist before its write (KeyGuard)
# and, before committing, refuses the write if one of them is gone.

@dataclass(frozen=True, eq=False)   # identity: a dict key within one guard
class Reference:
    """One cross-file reference: source.column names target.target_column (when `when` holds)."""
    source: Register
    column: str
    target: Register
    target_column: str
    when: tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Lost:
    """A key the write would take away: how many rows refer to it — never which (readers of the
    target may not be allowed to read the source) — and the sentence to show."""
    reference: Reference
    value: object
    count: int
    sentence: str


class StillReferenced(Refused):
    """A write refused because it renames or deletes keys that rows of another file refer to:
    a foreign_key refusal about the key columns taken away."""

    def __init__(self, lost: list[Lost]):
        columns = tuple(dict.fromkeys(item.reference.target_column for item in lost))
        super().__init__(Refusal("foreign_key", columns, {}, "；".join(item.sentence for item in lost)))
        self.lost = lost


def references_into(definition: Definition, database: str) -> list[Reference]:
    """Cross-file references, held in other files, whose targets live in `database`."""
    return [
        Reference(reg, column, definition.registers[ref["register"]], ref["column"],
                  tuple((ref.get("when") or {}).items()))
        for reg in definition.registers.values()
        for column, ref in reg.cross_references.items()
        if definition.registers[ref["register"]].database == database and reg.database != database
    ]


def referring_counts(source: sqlite3.Connection, refs: list[Reference]) -> dict[Reference, dict]:
    """For each reference, how many source rows name each key."""
    counts = {}
    for ref in refs:
        where = "".join(f" AND {quote(k)} = ?" for k, _ in ref.when)
        try:
            counts[ref] = dict(source.execute(
                f"SELECT {quote(ref.column)}, count(*) FROM {quote(ref.source.name)}"
                f" WHERE {quote(ref.column)} IS NOT NULL{where} GROUP BY {quote(ref.column)}",
                [v for _, v in ref.when]).fetchall())
        except sqlite3.OperationalError:   # a file not initialised yet holds no references
            counts[ref] = {}
    return counts


def _present(conn: sqlite3.Connection, ref: Reference, values) -> dict:
    """{key: id of the row holding it} for the keys that exist."""
    if not values:
        return {}
    try:
        return dict(conn.execute(
            f"SELECT j.value, t.id FROM json_each(?) AS j JOIN {quote(ref.target.name)} AS t"
            f" ON t.{quote(ref.target_column)} = j.value", [json.dumps(list(values), ensure_ascii=False)]))
    except sqlite3.OperationalError:   # the table or column was dropped or renamed: every key is gone
        return {}


class KeyGuard:
    """Made before a write to `database` (on the connection that writes), with a connection
    that can read the referring file; `lost()` after it, before the commit."""

    def __init__(self, conn: sqlite3.Connection, source: sqlite3.Connection, definition: Definition, database: str):
        self.definition = definition
        self.refs = references_into(definition, database)
        counts = referring_counts(source, self.refs)
        self.present = {ref: _present(conn, ref, counts[ref]) for ref in self.refs}
        self.counts = counts

    def check(self, conn: sqlite3.Connection, source: sqlite3.Connection | None = None) -> None:
        """Raise StillReferenced if the write took away a referred-to key."""
        if lost := self.lost(conn, source):
            raise StillReferenced(lost)

    def lost(self, conn: sqlite3.Connection, source: sqlite3.Connection | None = None) -> list[Lost]:
        """Keys that existed and were referred to before the write and are gone now (or moved to
        another row). With
        `source`, the referring rows are counted again (a run that also rewrote them)."""
        counts = referring_counts(source, self.refs) if source is not None else self.counts
        found = []
        for ref in self.refs:
            before = {v: i for v, i in self.present[ref].items() if counts[ref].get(v)}
            now = _present(conn, ref, before)
            # Gone, or now another row's (two 工号 swapped, or one re-used): the agreements would
            # name someone else.
            for value in sorted((v for v, i in before.items() if now.get(v) != i), key=str):
                found.append(self._refusal(ref, value, counts[ref][value]))
        return found

    def _refusal(self, ref: Reference, value, count: int) -> Lost:
        key_label = ref.target.columns[ref.target_column].label
        who = "或".join(self.definition.roles[r]["label"]
                       for r in self.definition.roles_allowed("write", ref.source.name) if r != "admin")
        sentence = (f"该{ref.target.label}（{key_label}「{value}」）被 {count} 份{ref.source.label}引用，"
                    f"不能修改{key_label}或删除；请先由{who or '管理员'}处理相关{ref.source.label}")
        return Lost(ref, value, count, sentence)
