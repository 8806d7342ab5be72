"""The import engine: files -> checked records -> one short write, all or nothing.

1. read   every sheet of every file, find its table and match its columns (headers.py); a
          column that matches nothing, or a missing required column, stops the run.
2. parse  every cell (values.py) and collect the parts of each reference.
3. resolve references against the database *and* every row of the run, so files may refer to
          each other in any order (departments <-> employees on an empty database).
4. check  duplicates and the rules Python can see early, for a per-cell report.
5. write  in one transaction per database file, opened only now (BEGIN IMMEDIATE): rows in
          dependency order, references deferred where they form a cycle; each change audited
          with the batch id; a row the database refuses is reported with the database's reason.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import pathlib
import re
import secrets
import sqlite3
from dataclasses import dataclass, field

from taizhang import audit, search, xref
from taizhang.chinese import to_simplified
from taizhang.clock import utc_now_iso
from taizhang.datadir import DataDir, write_transactions
from taizhang.importer import headers as hdr
from taizhang.importer.files import ImportFileError, open_workbook
from taizhang.importer.values import CellError, empty, parse_cell, parse_date, parse_text
from taizhang.messages import explain
from taizhang.registers import Definition, Register, load
from taizhang.schema import check_columns, quote

MODES = ("upsert", "append", "replace")
# Sheets up to this many rows are kept whole for the report's highlighted copy; larger ones are
# streamed row by row, so a 200,000-row import does not hold the sheet and its records at once.
REPORT_COPY_LIMIT = 10_000
PROGRESS_EVERY = 1_000
# A column's raw values are parsed once each (dates and the few names of a choice repeat down a
# sheet) until the column has this many distinct ones: then it is free text, parsed cell by cell.
PARSE_MEMO_LIMIT = 10_000
# Raw values remembered by their own equality: numbers are not (1 == 1.0 == True, 0.0 == -0.0).
MEMO_TYPES = frozenset({str, datetime.date, datetime.datetime, datetime.time})
BATCHES = "_import_batches"
BATCHES_SQL = f"""CREATE TABLE IF NOT EXISTS {BATCHES} (
  id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, actor TEXT, mode TEXT NOT NULL,
  files TEXT NOT NULL, counts TEXT NOT NULL, status TEXT NOT NULL
)"""


class ImportStopped(Exception):
    """The run cannot go on (an unknown column, a missing required column, a broken file)."""


@dataclass
class Problem:
    file: str
    sheet: str
    row: int | None          # Excel's row number, as the user sees it
    column: str              # the header as written
    value: object
    reason: str
    hint: str


@dataclass(eq=False, slots=True)
class Record:
    plan: "SheetPlan"
    row: int                                     # Excel row number
    values: dict[str, object] = field(default_factory=dict)   # a list while the sheet is read (_collect_rows)
    # The row's reference cells, (fk column, part, raw value) in sheet order: a tuple, as a dict
    # of dicts per row would cost more than the row's values. ref_parts() groups them.
    refs: tuple[tuple[str, str, object], ...] = ()
    ok: bool = True
    row_id: int | None = None                    # set once written / matched
    outcome: str | None = None                   # inserted | updated | unchanged | duplicate

    def key(self) -> tuple:
        return tuple(_identity(self.values.get(c)) for c in self.plan.register.natural_key)

    def ref_parts(self) -> dict[str, dict[str, object]]:
        """fk column -> part -> raw value ('_direct' for a column that names the row itself)."""
        parts: dict[str, dict[str, object]] = {}
        for column, part, value in self.refs:
            parts.setdefault(column, {})[part] = value
        return parts


def _identity(value):
    """A resolved reference ("db", id, row) / ("run", record, values) as something comparable."""
    if isinstance(value, tuple):
        return ("db", value[1]) if value[0] == "db" else ("run", id(value[1]))
    return value


@dataclass
class SheetPlan:
    file: pathlib.Path
    sheet: str
    layout: hdr.Layout
    records: list[Record] = field(default_factory=list)
    rows: list[list] = field(default_factory=list, repr=False)   # the sheet as read, for the report

    @property
    def register(self) -> Register:
        return self.layout.register

    @functools.cached_property
    def column_index(self) -> dict[str, int]:
        """Register column -> the sheet column that feeds it (the first, for reference parts)."""
        index: dict[str, int] = {}
        for i, target in sorted(self.layout.targets.items()):
            index.setdefault(target.column, i)
        return index


@dataclass
class Run:
    batch_id: str
    mode: str
    plans: list[SheetPlan] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    written: bool = False
    # Called as progress(phase, rows done, rows in all) every PROGRESS_EVERY rows (the CLI's bar).
    progress: object = lambda phase, done, total: None

    def count(self, register: str, outcome: str, n: int = 1) -> None:
        per = self.counts.setdefault(register, {"inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0, "deleted": 0})
        per[outcome] = per.get(outcome, 0) + n

    def problem(self, record: Record | None, column: str | None, value, reason: str, hint: str, plan=None) -> None:
        plan = record.plan if record else plan
        header = ""
        if column in plan.column_index:
            header = plan.layout.headers[plan.column_index[column]]
        elif column:
            header = column
        self.problems.append(Problem(plan.file.name, plan.sheet, record.row if record else None, header, value, reason, hint))
        if record:
            record.ok = False


def new_batch_id() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"I{now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


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
    if not run.plans:
        raise ImportStopped("没有找到可导入的台账表格")


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


# -- 3. resolve references --------------------------------------------------------------------
class Lookup:
    """Finds rows of a register by natural key or by label, in the database and in this run."""

    def __init__(self, conn: sqlite3.Connection, reg: Register, run_records: list[Record]):
        self.reg = reg
        key, label = list(reg.natural_key), reg.label_column
        cols = list(dict.fromkeys([*key, label]))
        self.by_key: dict[tuple, tuple] = {}
        rows = conn.execute(f"SELECT id, {', '.join(map(quote, cols))} FROM {quote(reg.name)}").fetchall()
        for row in rows:
            found = dict(zip(cols, row[1:]))
            self.by_key[tuple(_norm(found[c]) for c in key)] = ("db", row[0], found)
        # A row of the run with the key of a stored row is the same row, as the run will leave it.
        for record in run_records:
            if record.ok:
                self.by_key[tuple(_norm(_identity(record.values.get(c))) for c in key)] = ("run", record, record.values)
        self.by_label: dict[object, list] = {}
        for entry in self.by_key.values():
            self.by_label.setdefault(_norm(entry[2].get(label)), []).append(entry)
        self.synonyms = {_norm(w): _norm(name) for name, words in reg.name_synonyms.items() for w in words}

    def find(self, parts: dict[str, object], date1904: bool) -> tuple[object, str | None, str | None]:
        """(entry, reason, hint): exactly one of entry and reason is set."""
        reg = self.reg
        key_cols = list(reg.natural_key)
        parsed = {}
        for part, value in parts.items():
            col = reg.columns.get(part)
            if col is not None and col.type == "date":
                parsed[part] = parse_date(value, date1904=date1904)
            else:
                parsed[part] = parse_text(value)
        direct = parsed.pop("_direct", None)
        if direct is not None:
            m = re.match(r"^(.+?)[（(]([^（）()]+)[）)]$", direct)   # 张伟（00012）, as exports write it
            if m and len(key_cols) == 1:
                parsed.setdefault(key_cols[0], m[2].strip())
                parsed.setdefault(reg.label_column, m[1].strip())
            elif len(key_cols) == 1 and (_norm(direct),) in self.by_key:
                parsed.setdefault(key_cols[0], direct)
            else:
                parsed.setdefault(reg.label_column, direct)
        if all(c in parsed for c in key_cols):
            entry = self.by_key.get(tuple(_norm(parsed[c]) for c in key_cols))
            if entry is None and key_cols == [reg.label_column]:   # the name is the key: 重要客户 as VIP
                entry = self.by_key.get((self.synonyms.get(_norm(parsed[key_cols[0]])),))
            shown = " + ".join(str(parsed[c]) for c in key_cols)
            if entry is None:
                return None, f"{reg.label}中没有「{shown}」", f"请先在{reg.label}中登记，或核对{self._key_labels()}"
            label = parsed.get(reg.label_column)
            if label is not None and reg.label_column not in key_cols and _norm(entry[2].get(reg.label_column)) != _norm(label):
                actual = entry[2].get(reg.label_column)
                return None, f"{self._key_labels()}「{shown}」对应的是「{actual}」，不是「{label}」", "请核对两列是否填在同一行"
            return entry, None, None
        label = parsed.get(reg.label_column)
        if label is None:
            return None, f"无法确定{reg.label}", f"请填写{self._key_labels()}"
        wanted = self.synonyms.get(_norm(label), _norm(label))
        found = self.by_label.get(wanted, [])
        if len(found) == 1:
            return found[0], None, None
        if not found:
            return None, f"{reg.label}中没有「{label}」", f"请核对名称，或先在{reg.label}中登记"
        keys = "、".join(str(e[2].get(key_cols[0])) for e in found)
        return None, f"「{label}」在{reg.label}中有多条（{keys}）", f"请改填{self._key_labels()}以区分"

    def _key_labels(self) -> str:
        return " + ".join(self.reg.columns[c].label for c in self.reg.natural_key)


def _norm(value):
    if isinstance(value, str):
        return to_simplified(value.strip()).casefold()
    return value


def resolve(run: Run, data_dir: DataDir, definition: Definition, date1904: bool = False) -> None:
    by_register: dict[str, list[Record]] = {}
    for plan in run.plans:
        by_register.setdefault(plan.register.name, []).extend(plan.records)
    lookups: dict[str, Lookup] = {}
    for plan in run.plans:
        for col in plan.register.foreign_keys:
            target = definition.registers[col.references]
            if target.name not in lookups:
                conn = data_dir.connect(target.database)
                try:
                    lookups[target.name] = Lookup(conn, target, by_register.get(target.name, []))
                finally:
                    conn.close()
        for record in plan.records:
            for column, parts in record.ref_parts().items():
                col = plan.register.columns[column]
                try:
                    entry, reason, hint = lookups[col.references].find(parts, date1904)
                except CellError as ex:
                    entry, reason, hint = None, ex.reason, ex.hint
                if entry is None:
                    run.problem(record, column, " / ".join(str(v) for v in parts.values()), reason, hint)
                else:
                    record.values[column] = entry   # ("db", id, …) or ("run", record, …): an id once written


# -- 4. check ---------------------------------------------------------------------------------
def check(run: Run, definition: Definition) -> None:
    for plan in run.plans:
        reg = plan.register
        for record in plan.records:
            for col in reg.columns.values():
                if col.required and col.name in plan.column_index and record.values.get(col.name) is None \
                        and not (col.type == "fk" and any(c == col.name for c, _, _ in record.refs)) and record.ok:
                    run.problem(record, col.name, "", f"{col.label}为必填项", f"请填写{col.label}")
                if col.not_before and record.values.get(col.name) and record.values.get(col.not_before):
                    if record.values[col.name] < record.values[col.not_before]:
                        run.problem(record, col.name, record.values[col.name],
                                    f"{col.label}不能早于{reg.columns[col.not_before].label}（{record.values[col.not_before]}）",
                                    "请核对日期")
    seen: dict[tuple, Record] = {}
    for plan in run.plans:
        for record in plan.records:
            if not record.ok:
                continue
            key = (plan.register.name, *map(_norm, record.key()))
            if key in seen:
                first = seen[key]
                if _comparable(first) == _comparable(record):
                    record.outcome = "duplicate"
                    run.notices.append(f"{plan.file.name}「{plan.sheet}」第 {record.row} 行与第 {first.row} 行完全相同，已跳过")
                else:
                    labels = "、".join(plan.register.columns[c].label for c in plan.register.natural_key)
                    run.problem(record, plan.register.natural_key[0], " + ".join(map(str, record.key())),
                                f"与第 {first.row} 行的{labels}相同但内容不同", "请合并为一行或修正其中一行")
            else:
                seen[key] = record


def _comparable(record: Record) -> dict:
    return {k: _identity(v) for k, v in record.values.items()}


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def write(run: Run, data_dir: DataDir, definition: Definition, who: audit.Who, skip_invalid: bool = False) -> None:
    databases = sorted({p.register.database for p in run.plans})
    key = audit.key_from_secret(data_dir.secret())
    with write_transactions(data_dir, databases) as conns:
        for conn in conns.values():
            conn.execute(BATCHES_SQL)
            audit.begin(conn, who)
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
        for plan in run.plans:
            for record in plan.records:
                if not record.ok:
                    run.count(plan.register.name, "rejected")
        if run.problems and not skip_invalid:
            for conn in conns.values():
                conn.execute("ROLLBACK")
            run.counts = {r: {**c, "inserted": 0, "updated": 0, "deleted": 0} for r, c in run.counts.items()}
            return
        for name, conn in conns.items():
            search.drain(conn, definition)
            xref.clear_queue(conn)
            audit.finish(conn, key)
            conn.execute(
                f"INSERT INTO {BATCHES} (id, started_at, finished_at, actor, mode, files, counts, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'done')",
                [run.batch_id, run.batch_id, utc_now_iso(), who.actor, run.mode,
                 json.dumps(run.files, ensure_ascii=False),
                 json.dumps({r: c for r, c in run.counts.items() if definition.registers[r].database == name}, ensure_ascii=False)],
            )
    run.written = True


def _savepoint(run: Run, conn, record: Record, action) -> bool:
    conn.execute("SAVEPOINT import_row")
    try:
        action(conn)
    except sqlite3.IntegrityError as ex:
        conn.execute("ROLLBACK TO import_row")
        conn.execute("RELEASE import_row")
        reason = explain(str(ex), load(), record.plan.register.name, [])
        columns = check_columns(record.plan.register).get(reason, [])
        column = columns[0] if columns else None
        run.problem(record, column, record.values.get(column) if column else "", reason, "请按提示修改后重新导入")
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
            changed = {c: v for c, v in now.items() if current.get(c) != v}
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
                for message in xref.dangling(conn, lookup, definition, name, only_queued=True):
                    plan = next(p for p in run.plans if p.register.database == name)
                    run.problem(None, None, "", message, "请核对工号或合作伙伴名称", plan=plan)
            finally:
                if target not in conns:
                    lookup.close()


def check_cross_references(run: Run, data_dir: DataDir, definition: Definition) -> None:
    """工号 and partner names in hr.db rows must exist in ops.db — or in this run."""
    for plan in run.plans:
        for column, ref in plan.register.cross_references.items():
            target = definition.registers[ref["register"]]
            conn = data_dir.connect(target.database)
            try:
                known = {_norm(r[0]) for r in conn.execute(f"SELECT {quote(ref['column'])} FROM {quote(target.name)}")}
            finally:
                conn.close()
            known |= {_norm(r.values.get(ref["column"])) for p in run.plans if p.register.name == target.name
                      for r in p.records if r.ok}
            for record in plan.records:
                value = record.values.get(column)
                if record.ok and value is not None and _norm(value) not in known:
                    label = target.columns[ref["column"]].label
                    run.problem(record, column, value, f"{target.label}中没有{label}为「{value}」的记录",
                                f"请核对{plan.register.columns[column].label}，或先导入{target.label}")


def import_files(
    data_dir: DataDir, paths: list[pathlib.Path], *, register: str | None = None, sheet: str | None = None,
    mode: str = "upsert", dry_run: bool = False, skip_invalid: bool = False,
    mapping: dict[str, str] | None = None, ignore: set[str] | None = None,
    actor: str | None = None, role: str | None = None, definition: Definition | None = None,
    progress=None,
) -> Run:
    """One run over several files: all of it written, or — if any row is rejected and
    skip_invalid is off, or dry_run is on — none of it. Raises ImportStopped / ImportFileError."""
    definition = definition or load()
    run = Run(new_batch_id(), mode)
    if progress:
        run.progress = progress
    read(run, paths, definition, register, sheet, mapping, ignore)
    resolve(run, data_dir, definition)
    check_cross_references(run, data_dir, definition)
    check(run, definition)
    if dry_run or (run.problems and not skip_invalid):
        for plan in run.plans:
            for record in plan.records:
                if not record.ok:
                    run.count(plan.register.name, "rejected")
        return run
    who = audit.Who(actor=actor, role=role, source="import", batch_id=run.batch_id,
                    note="导入 " + "、".join(p.name for p in paths))
    write(run, data_dir, definition, who, skip_invalid)
    return run


__all__ = ["ImportFileError", "ImportStopped", "import_files", "Run", "Problem", "MODES"]
