"""Registers, filtered views and reports as .xlsx files that re-import with zero changes:
Chinese labels as headers, dates as real Excel dates, numbers as numbers, IDs as text,
references as their human key (张伟（00012）; 课程名称 + 开始日期 for a composite key), and no
text cell that Excel would take for a formula."""

from __future__ import annotations

import datetime
import io
import re
import sqlite3

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from taizhang.registers import Definition, Register
from taizhang.schema import quote

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Text Excel (or a CSV reader) would evaluate: =1+1, +cmd, -2+3, @SUM(...), and tab/CR tricks.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """For CSV: a leading apostrophe makes Excel show the text instead of evaluating it."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _cell(ws, value, date: bool = False):
    if date and isinstance(value, str) and ISO_DATE.match(value):
        cell = WriteOnlyCell(ws, value=datetime.date.fromisoformat(value))
        cell.number_format = "yyyy-mm-dd"
        return cell
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"   # stored as text, never a formula, whatever it starts with
    return cell


def workbook(title: str, headers: list[str], rows, date_columns: set[int] = frozenset()) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title[:31] or "Sheet1")
    ws.freeze_panes = "A2"
    ws.append([_cell(ws, h) for h in headers])
    for row in rows:
        ws.append([_cell(ws, v, i in date_columns) for i, v in enumerate(row)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _reference_columns(definition: Definition, reg: Register, column: str) -> list[tuple[str, str]]:
    """(header, target column) for exporting a reference: one column holding 姓名（工号） for a
    single-column key, or one column per key part for a composite key."""
    target = definition.registers[reg.columns[column].references]
    if len(target.natural_key) == 1:
        return [(reg.columns[column].label, "_human")]
    return [(target.columns[c].label, c) for c in target.natural_key]


def register_rows(conn: sqlite3.Connection, definition: Definition, reg: Register, rows: list[dict]):
    """Headers, rows and date column positions for rows of a register (dicts by column name)."""
    headers, makers, dates = [], [], set()
    for col in reg.columns.values():
        if col.type == "fk":
            target = definition.registers[col.references]
            ids = {r[col.name] for r in rows if r.get(col.name) is not None}
            lookup = _targets(conn, target, ids)
            for header, part in _reference_columns(definition, reg, col.name):
                if part != "_human" and target.columns[part].type == "date":
                    dates.add(len(headers))
                headers.append(header)
                makers.append(lambda r, c=col.name, p=part, lk=lookup: lk.get(r.get(c), {}).get(p))
        else:
            if col.type == "date":
                dates.add(len(headers))
            headers.append(col.label)
            makers.append(_plain(col))
    return headers, ([make(r) for make in makers] for r in rows), dates


def _plain(col):
    if col.type == "bool":
        return lambda r, c=col.name: {1: "是", 0: "否"}.get(r.get(c))
    return lambda r, c=col.name: r.get(c)


def _targets(conn: sqlite3.Connection, target: Register, ids: set) -> dict:
    """id -> {key column: value, ..., "_human": "label（key）"} for the referenced rows."""
    if not ids:
        return {}
    cols = list(dict.fromkeys([*target.natural_key, target.label_column]))
    out = {}
    id_list = list(ids)
    for start in range(0, len(id_list), 500):
        chunk = id_list[start : start + 500]
        for row in conn.execute(
            f"SELECT id, {', '.join(map(quote, cols))} FROM {quote(target.name)} WHERE id IN ({', '.join('?' * len(chunk))})",
            chunk,
        ):
            found = dict(zip(cols, row[1:]))
            key = found[target.natural_key[0]]
            label = found[target.label_column]
            human = key if label == key or target.label_column in target.natural_key else f"{label}（{key}）"
            out[row[0]] = {**found, "_human": human}
    return out
