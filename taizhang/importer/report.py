"""The import report, as a workbook staff can act on: one line per rejected cell (工作表, 行号 as
Excel shows it, 列 as written, 值, 原因, 处理建议), the notices, and — for sheets up to
REPORT_COPY_LIMIT rows — a copy of each original sheet with the bad cells highlighted, so the fix is
made there and the same file imported again."""

from __future__ import annotations

import datetime
import pathlib

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill

from taizhang.importer.engine import Run

BAD = PatternFill("solid", start_color="FFC7CE", end_color="FFC7CE")
BOLD = Font(bold=True)


def _plain(value):
    if value is None or value == "" or isinstance(value, (str, int, float, datetime.date, datetime.time)):
        return None if value == "" else value
    return str(value)


def _append(sheet, values) -> None:
    """Cells are written as data: a text starting with = stays that text, never a formula."""
    sheet.append([_plain(v) for v in values])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"


def write_report(run: Run, path: pathlib.Path) -> None:
    wb = Workbook()
    problems = wb.active
    problems.title = "问题"
    _append(problems, ["文件", "工作表", "行号", "列", "值", "原因", "处理建议"])
    for p in run.problems:
        _append(problems, [p.file, p.sheet, p.row, p.column, p.value, p.reason, p.hint])
    notices = wb.create_sheet("提示")
    _append(notices, ["提示"])
    for n in run.notices:
        _append(notices, [n])
    for sheet in (problems, notices):
        for cell in sheet[1]:
            cell.font = BOLD
        sheet.freeze_panes = "A2"
    _copies(wb, run)
    wb.save(path)


def _copies(wb: Workbook, run: Run) -> None:
    for plan in run.plans:
        if not plan.rows:   # sheets over REPORT_COPY_LIMIT rows are not copied
            continue
        bad = {}
        for p in run.problems:
            if p.file == plan.file.name and p.sheet == plan.sheet and p.row:
                column = next((i for i, h in enumerate(plan.layout.headers) if h == p.column), None)
                bad.setdefault((p.row, column), []).append(p.reason)
        if not bad:
            continue
        copy = wb.create_sheet(f"{plan.sheet}（待修改）"[:31])
        for row in plan.rows:
            _append(copy, row)
        for (row, column), reasons in bad.items():
            cells = [copy.cell(row=row, column=column + 1)] if column is not None else list(copy[row])
            for cell in cells:
                cell.fill = BAD
            cells[0].comment = Comment("；".join(reasons), "taizhang")
