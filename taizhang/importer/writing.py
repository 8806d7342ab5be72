"""Phase 5: the write — one transaction per database file, opened only now (BEGIN IMMEDIATE),
rows in dependency order, chunked, audited with the batch id."""

from __future__ import annotations

import json
import sqlite3

from taizhang import audit, search, xref
from taizhang.clock import utc_now_iso
from taizhang.datadir import DataDir, write_transactions
from taizhang.importer import derived_columns, kept_keys
from taizhang.importer.checking import _norm
from taizhang.importer.model import BATCHES, ImportStopped, Record, ensure_batches, Run, SheetPlan
from taizhang.messages import RULE_KINDS, explain
from taizhang.registers import Definition, Register, load
from taizhang.schema import quote

# -- 5. write ---------------------------------------------------------------------------------
def _order(plans: list[SheetPlan], definition: Definition) -> list[SheetPlan]:
    """Registers whose required references point at other registers of the run come after them."""
    names = {p.register.name for p in plans}
    ordered, done = [], set()
    pending = list(plans)
    while pending:
        for plan in pending:
            needs = {c.references for c in plan.register.foreign_keys if c.required} & names
            if needs <= done | {plan.register.name}:
                ordered.append(plan)
                pending.remove(plan)
                break
        else:   # only optional references are left in a cycle: any order works, deferred below
            ordered.append(pending.pop(0))
        done = {p.register.name for p in ordered}
    return ordered


def _ref_id(value, deferred: bool):
    """A resolved reference's id now, or None if its target row is written later in the run."""
    source, target = value[0], value[1]
    if source == "db":
        return target
    return target.row_id if target.row_id is not None else (None if deferred else target)


def _row_values(record: Record, columns) -> tuple[dict, dict]:
    now, later = {}, {}
    for column in columns:
        value = record.values.get(column)
        if isinstance(value, tuple):
            resolved = _ref_id(value, deferred=True)
            if resolved is None:
                later[column] = value
                continue
            value = resolved
        now[column] = value
    return now, later


def write(run: Run, data_dir: DataDir, definition: Definition, who: audit.Who, skip_invalid: bool = False,
          owner: str | None = None) -> None:
    databases = sorted({p.register.database for p in run.plans})
    key = audit.key_from_secret(data_dir.secret())
    with write_transactions(data_dir, databases) as conns, audit.refusals_explained(conns.values(), ImportStopped):
        marks = {}
        for name, conn in conns.items():
            ensure_batches(conn)
            marks[name] = audit.begin(conn, who)
        guards = kept_keys.guards(conns, data_dir, definition)
        deferred: list[tuple[Record, dict]] = []
        for plan in _order(run.plans, definition):
            conn = conns[plan.register.database]
            if run.mode == "replace":
                _replace(run, conn, plan, definition)
            deferred += _write_plan(run, conn, plan, definition)
        for record, later in deferred:
            if record.row_id is None:
                continue
            values = {c: _ref_id(v, deferred=False) for c, v in later.items()}
            _savepoint(run, conns[record.plan.register.database], record, lambda conn: conn.execute(
                f"UPDATE {quote(record.plan.register.name)} SET {', '.join(f'{quote(c)} = ?' for c in values)} WHERE id = ?",
                [*values.values(), record.row_id]))
        _check_cross_references(run, conns, data_dir, definition)
        keys_lost = kept_keys.check(run, guards, conns)
        for plan in run.plans:
            for record in plan.records:
                if not record.ok:
                    run.count(plan.register.name, "rejected")
        if (run.problems and not skip_invalid) or keys_lost:   # skipping rows cannot undo a delete
            for conn in conns.values():
                conn.execute("ROLLBACK")
            run.counts = {r: {**c, "inserted": 0, "updated": 0, "deleted": 0} for r, c in run.counts.items()}
            return
        advances = []
        for name, conn in conns.items():
            search.drain(conn, definition)
            xref.clear_queue(conn)
            advances.append(audit.finish(conn, key, marks[name]))
            conn.execute(
                f"INSERT INTO {BATCHES} (id, started_at, finished_at, actor, mode, files, counts, status, owner)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'done', ?)",
                [run.batch_id, run.batch_id, utc_now_iso(), who.actor, run.mode,
                 json.dumps(run.files, ensure_ascii=False),
                 json.dumps({r: c for r, c in run.counts.items() if definition.registers[r].database == name}, ensure_ascii=False),
                 owner],
            )
    for advance in filter(None, advances):   # once committed
        advance.apply(key)
    run.written = True


def _savepoint(run: Run, conn, record: Record, action) -> bool:
    conn.execute("SAVEPOINT import_row")
    try:
        action(conn)
    except sqlite3.IntegrityError as ex:
        conn.execute("ROLLBACK TO import_row")
        conn.execute("RELEASE import_row")
        refusal = explain(str(ex), load(), record.plan.register.name, [])
        # A rule's refusal is put on the column it judges (a duplicate key or a missing field is
        # the row's: the report names them in the sentence).
        column = refusal.columns[0] if refusal.kind in RULE_KINDS and refusal.columns else None
        run.problem(record, column, record.values.get(column) if column else "", refusal.text, "请按提示修改后重新导入")
        return False
    conn.execute("RELEASE import_row")
    return True


# Rows are written this many at a time, in one savepoint, inserts with executemany; a chunk the
# database refuses is written again row by row, to name the rows it refuses.
CHUNK = 500
# The search index is brought up to date every this many rows, in the same transaction: drained
# all at once at the end, 200,000 queued rows would have their index text built all at once.
DRAIN_EVERY = 10_000


def _write_plan(run: Run, conn, plan: SheetPlan, definition: Definition) -> list[tuple[Record, dict]]:
    """Insert or update the plan's rows; returns the references to fill in once all are written."""
    reg = plan.register
    columns = list(plan.column_index)
    names = [d[0] for d in conn.execute(f"SELECT * FROM {quote(reg.name)} LIMIT 0").description]
    existing = {}
    for row in conn.execute(f"SELECT * FROM {quote(reg.name)}"):
        current = dict(zip(names, row))
        existing[tuple(current[c] for c in reg.natural_key)] = current
    todo = [r for r in plan.records if r.ok and r.outcome != "duplicate"]
    deferred = []
    for start in range(0, len(todo), CHUNK):
        run.progress("写入", start, len(todo))
        if start and start % DRAIN_EVERY == 0:
            search.drain(conn, definition)
        actions = []
        for record in todo[start : start + CHUNK]:
            now, later = _row_values(record, columns)
            if later:
                deferred.append((record, later))
            key = tuple(now.get(c) for c in reg.natural_key)
            current = existing.get(key) if all(c in now for c in reg.natural_key) else None
            if type(current) is tuple:   # a row inserted earlier in this plan: (id, its values by column)
                current = {**dict(zip(columns, current[1])), "id": current[0]}
            if current is None:
                actions.append(("insert", record, now, key))
                continue
            record.row_id = current["id"]
            if run.mode == "append":
                labels = "、".join(reg.columns[c].label for c in reg.natural_key)
                run.problem(record, reg.natural_key[0], " + ".join(map(str, record.key())),
                            f"{reg.label}中已有{labels}相同的记录", "追加模式不修改已有记录；要更新请用 --mode upsert")
                continue
            changed = derived_columns.settle(reg, current, {c: v for c, v in now.items() if current.get(c) != v})
            if changed:
                actions.append(("update", record, changed, key))
            else:
                record.outcome = "unchanged"
                run.count(reg.name, "unchanged")
        if not _apply_chunk(conn, reg, actions):
            actions = [a for a in actions if _savepoint(run, conn, a[1], lambda c, a=a: _apply(c, reg, [a]))]
        for kind, record, values, key in actions:
            record.outcome = "inserted" if kind == "insert" else "updated"
            run.count(reg.name, record.outcome)
            if kind == "insert":   # later rows of the run with the same key update this one
                existing[key] = (record.row_id, tuple(map(values.get, columns)))   # a dict per row costs more
    return deferred


def _apply(conn, reg: Register, actions) -> None:
    """Updates one by one; inserts of the same columns with executemany. AUTOINCREMENT hands out
    ids in order after the sequence's last one, and the write lock is ours: that gives each
    inserted record its id without reading it back."""
    inserts: dict[tuple, list] = {}
    for kind, record, values, _ in actions:
        if kind == "update":
            conn.execute(
                f"UPDATE {quote(reg.name)} SET {', '.join(f'{quote(k)} = ?' for k in values)} WHERE id = ?",
                [*values.values(), record.row_id])
        else:
            inserts.setdefault(tuple(values), []).append((record, values))
    for cols, group in inserts.items():
        before = conn.execute("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = ?), 0)", [reg.name]).fetchone()[0]
        conn.executemany(
            f"INSERT INTO {quote(reg.name)} ({', '.join(map(quote, cols))}) VALUES ({', '.join('?' for _ in cols)})",
            [list(values.values()) for _, values in group])
        for offset, (record, _) in enumerate(group, start=1):
            record.row_id = before + offset


def _apply_chunk(conn, reg: Register, actions) -> bool:
    conn.execute("SAVEPOINT import_chunk")
    try:
        _apply(conn, reg, actions)
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO import_chunk")
        conn.execute("RELEASE import_chunk")
        for kind, record, _, _ in actions:
            if kind == "insert":
                record.row_id = None
        return False
    conn.execute("RELEASE import_chunk")
    return True


def _replace(run: Run, conn, plan: SheetPlan, definition: Definition) -> None:
    """Replace mode: the register's rows that the file does not have go — unless rows of other
    registers refer to them, in which case nothing goes and they are listed."""
    reg = plan.register
    keys = {tuple(_norm(_stored(r.values[c])) for c in reg.natural_key) for r in plan.records
            if all(c in r.values for c in reg.natural_key)}   # rejected lines too: the row is in the file
    cols = ", ".join(map(quote, reg.natural_key))
    doomed = [row[0] for row in conn.execute(f"SELECT id, {cols} FROM {quote(reg.name)}")
              if tuple(_norm(v) for v in row[1:]) not in keys]
    if not doomed:
        return
    blockers = []
    for other in definition.registers_in(reg.database):
        for col in other.foreign_keys:
            if col.references == reg.name:
                for row_id, ref in conn.execute(
                        f"SELECT id, {quote(col.name)} FROM {quote(other.name)} WHERE {quote(col.name)} IN "
                        f"({', '.join('?' for _ in doomed)})", doomed):
                    if other.name != reg.name:
                        blockers.append(f"{other.label} id {row_id}（{col.label} → {reg.label} id {ref}）")
    if blockers:
        run.problem(None, None, "", f"替换会删除仍被引用的{reg.label}记录：" + "；".join(blockers[:20])
                    + ("…" if len(blockers) > 20 else ""), "请先修改引用它们的记录，或改用 --mode upsert", plan=plan)
        return
    conn.executemany(f"DELETE FROM {quote(reg.name)} WHERE id = ?", [(i,) for i in doomed])
    run.count(reg.name, "deleted", len(doomed))


def _stored(value):
    """A key part as the database holds it: a resolved reference is its row's id (None if the
    row is not written yet, so it matches no stored row)."""
    if isinstance(value, tuple):
        return value[1] if value[0] == "db" else value[1].row_id
    return value


def _check_cross_references(run: Run, conns: dict, data_dir: DataDir, definition: Definition) -> None:
    """The database-level check of hr.db's 工号 / partner names against ops.db, for the rows this
    write touched (the same check the app makes on every write); a safety net behind check()."""
    for name, conn in conns.items():
        targets = {definition.registers[r["register"]].database for reg in definition.registers_in(name)
                   for r in reg.cross_references.values()}
        for target in targets:
            lookup = conns.get(target) or data_dir.connect(target)
            try:
                for problem in xref.dangling(conn, lookup, definition, name, only_queued=True):
                    plan = next(p for p in run.plans if p.register.database == name)
                    run.problem(None, None, "", problem.sentence, "请核对工号或合作伙伴名称", plan=plan)
            finally:
                if target not in conns:
                    lookup.close()

