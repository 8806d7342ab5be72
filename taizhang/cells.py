"""Cell edits from the table grid: typed values read the way the import reads them (2024/3/5,
是/否, 繁體 synonyms, a reference by name or key), saved all-or-nothing in one transaction, the
database's rules deciding; a refusal is put back on the cell it concerns, in Chinese.

`read_changes` checks the shape of a request (no database needed); `save` runs inside
`execute_write_fn` and either returns the saved rows or raises `Refused` with per-cell
messages, which rolls the whole transaction back."""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass

from taizhang import ids
from taizhang.conflicts import changed_since
from taizhang.importer.checking import Lookup
from taizhang.importer.values import CellError, parse_cell
from taizhang.messages import explain
from taizhang.registers import Definition, Register
from taizhang.schema import derive_kind, quote

# One paste may update this many cells (an Excel block of 100 rows × 20 columns).
MAX_CHANGES = 2000
MAX_VALUE_CHARS = 20_000


@dataclass
class Change:
    id: int
    column: str
    value: object
    version: str | None


class Refused(Exception):
    """Nothing was saved: `errors` holds one {id, column, message, conflict} per bad cell."""

    def __init__(self, errors: list[dict]):
        super().__init__(errors[0]["message"] if errors else "")
        self.errors = errors


def editable(reg: Register) -> list[str]:
    """The columns the grid may edit: the register's own, not those the database derives."""
    # Weighted and computed columns are always the database's; a banded one (a rating) may still
    # be chosen by hand, and a default one given instead of the default.
    derived = {name for name, rule in reg.derive.items() if derive_kind(rule) in ("weighted", "computed")}
    # A process's state moves only by its transitions, with their comment: the row page's buttons.
    if reg.workflow:
        derived.add(reg.workflow.column)
    return [c for c in reg.columns if c not in derived]


def state_reason(reg: Register) -> str | None:
    """Why the grid does not change a process's state, for people."""
    if not reg.workflow:
        return None
    actions = "、".join(dict.fromkeys(t.action for t in reg.workflow.transitions[:3]))
    return f"{reg.columns[reg.workflow.column].label}请在记录页用办理按钮变更（如 {actions}）"


def read_changes(body, reg: Register) -> list[Change]:
    """The changes of a request body, or Refused naming what is wrong with its shape."""
    if not isinstance(body, dict) or not isinstance(body.get("changes"), list) or not body["changes"]:
        raise Refused([_error(None, None, '请求应为 {"changes": [{"id": …, "column": …, "value": …}]}')])
    if len(body["changes"]) > MAX_CHANGES:
        raise Refused([_error(None, None, f"一次最多修改 {MAX_CHANGES} 个单元格，收到 {len(body['changes'])} 个")])
    allowed = editable(reg)
    changes, errors = [], []
    for item in body["changes"]:
        if not isinstance(item, dict):
            errors.append(_error(None, None, "每项修改应为对象：{id, column, value, version}"))
            continue
        row_id, column, value, version = item.get("id"), item.get("column"), item.get("value"), item.get("version")
        if isinstance(row_id, str) and ids.row_id(row_id):   # "12" from a text cell; not "²"
            row_id = ids.row_id(row_id)
        if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 < row_id < 2**63:
            errors.append(_error(None, column if isinstance(column, str) else None, f"记录 id 应为正整数，收到「{row_id}」"))
        elif reg.workflow and column == reg.workflow.column:
            errors.append(_error(row_id, column, state_reason(reg)))
        elif column not in allowed:
            errors.append(_error(row_id, None, f"{reg.label}没有可修改的列「{column}」"))
        elif value is not None and (not isinstance(value, (str, int, float)) or isinstance(value, bool)
                                    or (isinstance(value, float) and not math.isfinite(value))):
            errors.append(_error(row_id, column, f"{reg.columns[column].label}的值应为文字或数字"))
        elif isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            errors.append(_error(row_id, column, f"{reg.columns[column].label}过长（最多 {MAX_VALUE_CHARS} 字）"))
        elif version is not None and not isinstance(version, str):
            errors.append(_error(row_id, column, "version 应为该记录的 updated_at 文本"))
        elif not all(_encodable(v) for v in (value, version)):
            # JSON may carry a lone surrogate ("\ud800"): SQLite cannot store it as UTF-8.
            errors.append(_error(row_id, column, f"{reg.columns[column].label}含有无法保存的字符（不成对的代理码位）"))
        else:
            changes.append(Change(row_id, column, value, version or None))
    if errors:
        raise Refused(errors)
    return changes


def _encodable(value) -> bool:
    return not isinstance(value, str) or not any("\ud800" <= ch <= "\udfff" for ch in value)


def save(conn: sqlite3.Connection, definition: Definition, reg: Register, changes: list[Change],
         visible: dict[str, str] | None = None) -> dict:
    """Apply the changes (inside the caller's transaction). Returns {id: {version, cells}}
    for the rows saved; raises Refused (so the caller's transaction rolls back) when any cell
    could not be saved. `visible`: register -> the writer's rows of it (row-level access,
    taizhang/row_access.py): a row of this register outside them is missing, a reference to
    one is shown without its label."""
    visible = visible or {}
    scope = f" AND {visible[reg.name]}" if reg.name in visible else ""
    rows: dict[int, dict[str, object]] = {}
    versions: dict[int, str | None] = {}
    for change in changes:
        rows.setdefault(change.id, {})[change.column] = change.value
        versions[change.id] = change.version if change.id not in versions else (versions[change.id] or change.version)
    errors: list[dict] = []
    lookups: dict[str, Lookup] = {}
    for row_id, typed in rows.items():
        found = conn.execute(f"SELECT updated_at FROM {quote(reg.name)} WHERE id = ?{scope}", [row_id]).fetchone()
        if found is None:
            errors += [_error(row_id, c, f"{reg.label}中没有 id 为 {row_id} 的记录（可能已被删除）") for c in typed]
            continue
        # Said without the API's advice about If-Match: the grid has its own way to reload.
        if versions[row_id] and (sentence := changed_since(conn, reg.name, row_id, versions[row_id])):
            errors += [_error(row_id, c, sentence, conflict=True) for c in typed]
            continue
        values, bad = {}, []
        for column, raw in typed.items():
            try:
                values[column] = _read(conn, definition, reg.columns[column], raw, lookups)
            except CellError as ex:
                bad.append(_error(row_id, column, f"{reg.columns[column].label}：{ex.reason}。{ex.hint}"))
        if bad:
            errors += bad
            continue
        errors += _update(conn, definition, reg, row_id, values, typed)
    if errors:
        raise Refused(errors)
    return {row_id: _shown(conn, definition, reg, row_id, list(typed), visible) for row_id, typed in rows.items()}


def place(message: str, changes: list[Change]) -> list[dict]:
    """A refusal of the whole transaction (a cross-file reference checked at commit, a busy
    database) put on these cells, or on the request when there are none."""
    return [_error(c.id, c.column, message) for c in changes] or [_error(None, None, message)]


def _read(conn, definition: Definition, col, raw, lookups: dict[str, Lookup]):
    """A typed value as the column stores it; a reference by name, key or 张三（E0012）."""
    if col.type != "fk":
        return parse_cell(col, raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    target = definition.registers[col.references]
    if target.name not in lookups:
        lookups[target.name] = Lookup(conn, target, [])
    entry, reason, hint = lookups[target.name].find({"_direct": raw}, False)
    if entry is None:
        raise CellError(reason, hint)
    return entry[1]


def _update(conn, definition: Definition, reg: Register, row_id: int, values: dict, typed: dict) -> list[dict]:
    """Update one row; on a refusal, find which cells the database refuses (each alone, then
    rolled back) so every bad cell is marked, not only the first."""
    message = _try_update(conn, reg, row_id, values)
    if message is None:
        return []
    errors = []
    if len(values) > 1:
        for column, value in values.items():
            conn.execute("SAVEPOINT grid_cell")
            alone = _try_update(conn, reg, row_id, {column: value})
            conn.execute("ROLLBACK TO grid_cell")
            conn.execute("RELEASE grid_cell")
            if alone is not None:
                errors.append(_error(row_id, column, explain(alone, definition, reg.name, [typed]).text))
    if errors:
        return errors
    # Refused only together (an end date before a start): on the first changed cell it judges.
    refusal = explain(message, definition, reg.name, [typed])
    column = next((c for c in refusal.columns if c in values), next(iter(values)))
    return [_error(row_id, column, refusal.text)]


def _try_update(conn, reg: Register, row_id: int, values: dict) -> str | None:
    try:
        conn.execute(f"UPDATE {quote(reg.name)} SET {', '.join(f'{quote(c)} = ?' for c in values)} WHERE id = ?",
                     [*values.values(), row_id])
    except sqlite3.IntegrityError as ex:   # the statement is undone; the transaction goes on
        return str(ex)
    except OverflowError:   # an integer SQLite cannot hold, refused before the statement ran
        return "数值过大，超出了可保存的范围"
    return None


def _shown(conn, definition: Definition, reg: Register, row_id: int, columns: list[str],
           visible: dict[str, str]) -> dict:
    """The saved row as the grid shows it: each cell's stored value and, for references, the
    label of the row referred to."""
    row = conn.execute(f"SELECT * FROM {quote(reg.name)} WHERE id = ?", [row_id]).fetchone()
    names = [d[0] for d in conn.execute(f"SELECT * FROM {quote(reg.name)} LIMIT 0").description]
    row = dict(zip(names, row))
    cells = {}
    for column in columns:
        col, value = reg.columns[column], row[column]
        cell = {"value": value}
        if col.type == "fk" and value is not None:
            target = definition.registers[col.references]
            scope = f" AND {visible[target.name]}" if target.name in visible else ""
            label = conn.execute(f"SELECT {quote(target.label_column)} FROM {quote(target.name)} WHERE id = ?{scope}",
                                 [value]).fetchone()
            cell.update(label=label[0] if label else None, register=target.name, database=target.database)
        cells[column] = cell
    return {"version": row["updated_at"], "cells": cells}


def _error(row_id, column, message: str, conflict: bool = False) -> dict:
    return {"id": row_id, "column": column, "message": message, "conflict": conflict}
