"""What an import run is made of: the run, its sheets' plans, their records and problems."""

from __future__ import annotations

import datetime
import functools
import pathlib
import secrets
from dataclasses import dataclass, field

from taizhang.importer import headers as hdr
from taizhang.registers import Register

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
# actor is the name shown; owner the users.db account key of the web login or --actor that ran
# it (NULL: the command line without --actor, or a batch older than owners — admins only).
BATCHES_SQL = f"""CREATE TABLE IF NOT EXISTS {BATCHES} (
  id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, actor TEXT, mode TEXT NOT NULL,
  files TEXT NOT NULL, counts TEXT NOT NULL, status TEXT NOT NULL, owner TEXT
)"""


def ensure_batches(conn) -> None:
    """The batch table, with the owner column added to one made before owners were recorded."""
    conn.execute(BATCHES_SQL)
    if "owner" not in {r[1] for r in conn.execute(f"PRAGMA table_info({BATCHES})")}:
        conn.execute(f"ALTER TABLE {BATCHES} ADD COLUMN owner TEXT")


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
