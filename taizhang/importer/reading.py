"""Phases 1–2: read every sheet of every file, find its table, parse every cell."""

from __future__ import annotations

import hashlib
import pathlib
import re

from taizhang.importer import headers as hdr
from taizhang.importer.files import open_workbook
from taizhang.importer.model import (
    MEMO_TYPES, PARSE_MEMO_LIMIT, PROGRESS_EVERY, REPORT_COPY_LIMIT, ImportStopped, Record, Run, SheetPlan,
)
from taizhang.importer.values import CellError, empty, parse_cell, parse_text
from taizhang.registers import Definition

# -- 1. read ---------------------------------------------------------------------------------
def read(run: Run, paths: list[pathlib.Path], definition: Definition, register: str | None = None,
         sheet: str | None = None, mapping: dict[str, str] | None = None, ignore: set[str] | None = None) -> None:
    for path in paths:
        workbook = open_workbook(path)
        run.files.append({"name": path.name, "sha256": _sha256(path), "sheets": []})
        sheets = [s for s in workbook.sheets if (s.name == sheet if sheet else not s.hidden)]
        if sheet and not sheets:
            names = "、".join(s.name for s in workbook.sheets)
            raise ImportStopped(f"{path.name} 中没有名为「{sheet}」的工作表；现有：{names}")
        for ws in sheets:
            layout = _layout(ws.head(hdr.HEADER_SEARCH_ROWS), definition, register, [ws.name, path.stem], mapping, ignore)
            if layout is None:
                if len(sheets) == 1:
                    raise ImportStopped(f"{path.name}「{ws.name}」中找不到台账的表头；请确认表头行包含各列名称，或用 --register 指定台账")
                run.notices.append(f"{path.name}「{ws.name}」不是台账表格，已跳过")
                continue
            _check_columns(path, ws.name, layout)
            # A large sheet is streamed and never held whole; a small one is kept for the report.
            plan = SheetPlan(path, ws.name, layout, rows=ws.rows if ws.row_count <= REPORT_COPY_LIMIT else [])
            slots = _collect_rows(run, plan, ws, workbook.date1904, definition)
            ws.release()
            _values_to_dicts(plan, slots)
            run.plans.append(plan)
            run.files[-1]["sheets"].append({"sheet": ws.name, "register": layout.register.name, "rows": len(plan.records)})
            run.notices.extend(f"{path.name}「{ws.name}」：{n}" for n in layout.notices)
            for i, why in layout.skipped.items():
                if why == "--ignore":
                    run.notices.append(f"{path.name}「{ws.name}」：已按 --ignore 忽略“{layout.headers[i]}”列")
        _refuse_if_no_data(path, [p for p in run.plans if p.file == path])
    if not run.plans:
        raise ImportStopped("没有找到可导入的台账表格")


def _refuse_if_no_data(path: pathlib.Path, plans: list[SheetPlan]) -> None:
    """A workbook whose tables have headers but not one data row is a mistake (the wrong file,
    an emptied template), not "nothing to change" — in replace mode it would empty the register.
    One empty sheet beside a filled one is only a notice."""
    if plans and not any(p.records for p in plans):
        sheets = "、".join(f"「{p.sheet}」（{p.register.label}，表头在第 {p.layout.header_row + 1} 行）" for p in plans)
        raise ImportStopped(f"{path.name}{sheets}有表头但没有数据行：什么都没有导入。"
                            "请确认选对了文件，数据写在表头下方")


def _layout(rows, definition, register, names, mapping, ignore):
    try:
        if register:
            return hdr.layout_for(rows, definition, definition.registers[register], mapping, ignore)
        return hdr.detect(rows, definition, names, mapping, ignore)
    except KeyError as ex:
        raise ImportStopped(ex.args[0])


def _check_columns(path, sheet, layout: hdr.Layout) -> None:
    where = f"{path.name}「{sheet}」（第 {layout.header_row + 1} 行表头，台账：{layout.register.label}）"
    if layout.unknown:
        names = "、".join(f"“{layout.headers[i]}”" for i in layout.unknown)
        raise ImportStopped(
            f"{where}有无法对应的列：{names}。什么都没有写入。请用 --map 列名=字段 指定它对应的字段，"
            f"或用 --ignore 列名 忽略它；{layout.register.label}的字段有："
            + "、".join(f"{c.label}({c.name})" for c in layout.register.columns.values())
        )
    if missing := hdr.missing_required(layout):
        raise ImportStopped(f"{where}缺少必填的列：{'、'.join(missing)}。什么都没有写入。")


# A value slot of a record being read that no cell filled: a formula without a value, a cell
# that failed to parse (its record is rejected either way).
_UNSET = object()


def _collect_rows(run: Run, plan: SheetPlan, ws, date1904: bool, definition: Definition) -> list[str]:
    """Parse the sheet's rows under the header into plan.records, streaming the sheet. While the
    sheet is still held, each record's values are a list, one slot per register column the sheet
    feeds (the columns returned) — a dict per row costs more than the row; _values_to_dicts turns
    them into dicts once the sheet is let go."""
    layout = plan.layout
    reg = layout.register
    formulas = set(ws.formula_without_value())
    formats: dict[int, dict[int, str]] = {}
    slots: list[str] = []   # register column of each value slot, in sheet-column order
    columns = []            # [sheet column, target, register column, value slot (None: a reference), memo]
    for i, target in layout.targets.items():
        col = reg.columns[target.column]
        slot = None
        if col.type != "fk":
            slot = len(slots)
            slots.append(target.column)
        columns.append([i, target, col, slot, {}])
    blank = [_UNSET] * len(slots)
    total = ws.row_count - layout.header_row - 1
    for index, row in enumerate(ws.iter_rows(layout.header_row + 1), start=layout.header_row + 1):
        if (index - layout.header_row) % PROGRESS_EVERY == 0:
            run.progress("读取", index - layout.header_row, total)
        if all(empty(v) for v in row):
            continue
        if hdr.is_footer(row):
            if any(not empty(v) for v in row):
                run.notices.append(f"{plan.file.name}「{plan.sheet}」第 {index + 1} 行是表尾（{str(next(v for v in row if not empty(v)))[:20]}…），已跳过")
            continue
        values = blank.copy()
        record = Record(plan, index + 1, values)
        for entry in columns:
            i, target, col, slot, memo = entry
            value = row[i] if i < len(row) else ""
            if formulas and (index, i) in formulas:
                run.problem(record, target.column, "（公式）", "公式没有计算结果", "请在 Excel 中打开并保存一次，让公式算出结果")
                continue
            if value == "" or value is None:   # many cells of a register: nothing to parse
                if slot is not None:
                    values[slot] = None
                continue
            if slot is None:   # a reference (or a part of one), resolved later
                if isinstance(value, float):   # 工号 typed as 12 and shown as 00012
                    if i not in formats:
                        formats[i] = ws.number_formats(i)
                    if re.fullmatch(r"0+", formats[i].get(index) or ""):
                        value = parse_text(value, formats[i][index])
                if not empty(value):
                    if memo is not None and type(value) is str:   # the same few names, one string each
                        value = memo.setdefault(value, value)
                        if len(memo) > PARSE_MEMO_LIMIT:
                            entry[4] = None
                    record.refs += ((target.column, target.part or "_direct", value),)
                continue
            memoised = memo is not None and type(value) in MEMO_TYPES
            if memoised and (parsed := memo.get(value, _UNSET)) is not _UNSET:
                values[slot] = parsed
                continue
            try:
                number_format = None
                if col.sql_type == "TEXT" and isinstance(value, float):
                    if i not in formats:
                        formats[i] = ws.number_formats(i)
                    number_format = formats[i].get(index)
                parsed = parse_cell(col, value, date1904=date1904, scale=target.scale, number_format=number_format)
            except CellError as ex:
                run.problem(record, target.column, value, ex.reason, ex.hint)
                continue
            values[slot] = parsed
            if memoised:
                memo[value] = parsed
                if len(memo) > PARSE_MEMO_LIMIT:
                    entry[4] = None
        plan.records.append(record)
    if not plan.records:
        run.notices.append(f"{plan.file.name}「{plan.sheet}」有表头但没有数据行")
    return slots


def _values_to_dicts(plan: SheetPlan, slots: list[str]) -> None:
    """Each record's value slots -> {register column: value}, in sheet-column order, without the
    slots no cell filled (as if each value had been set in a dict as its cell was parsed). Only a
    rejected record can have such a slot."""
    for record in plan.records:
        if record.ok:
            record.values = dict(zip(slots, record.values))
        else:
            record.values = {column: v for column, v in zip(slots, record.values) if v is not _UNSET}


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
