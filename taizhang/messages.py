"""SQLite's constraint errors, turned into sentences staff can act on (Chinese), as typed data.

CHECK constraints are named with their sentence already (taizhang/schema.py), so only the
prefix goes; NOT NULL, UNIQUE and FOREIGN KEY errors name columns, which become labels.
explain() reads SQLite's own error text (its format is SQLite's) and returns a `Refusal`: the
kind of rule, the columns it is about and the sentence — so the form, the grid and the import
put it on its field by `columns`, never by matching the sentence's words.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field

from taizhang.checks import KINDS
from taizhang.registers import Definition
from taizhang.schema import check_columns, column_checks

# What a write is told when another writer (an import) holds the database longer than it waits.
BUSY = "正在导入或写入数据，数据库暂时被占用，请稍后重试"

# The kinds of refusal explain() tells apart besides the column rules' (taizhang/checks.py KINDS):
#   rule         a register-wide CHECK of the definition (`checks:`)
#   required     NOT NULL: a required field left out
#   unique       UNIQUE: a key some other record has
#   foreign_key  a reference to a missing record, or a record still referred to
#   other        anything else (a trigger's own sentence, a message that is not SQLite's): as it came
REFUSAL_KINDS = ("rule", "required", "unique", "foreign_key", "other")
# The refusals of a rule the definition writes (a column's or the register's).
RULE_KINDS = (*KINDS, "rule")
# The sentences of the two with labels in them: db/translations.yml `kinds:` has their English.
REQUIRED = "{label}为必填项，不能为空"
UNIQUE = "{register}中已有{labels}相同的记录，{labels}不能重复"
FOREIGN_KEY = "引用的记录不存在，或本记录仍被其他台账引用而不能删除或修改编号"

_CHECK = re.compile(r"^CHECK constraint failed: (.+)$")
_NOT_NULL = re.compile(r"^NOT NULL constraint failed: (\w+)\.(\w+)$")
_UNIQUE = re.compile(r"^UNIQUE constraint failed: (.+)$")


@dataclass(frozen=True)
class Refusal:
    """A refused write: `kind` (a column rule's kind, or one of REFUSAL_KINDS), the register's
    columns it is about (the first is where a form shows it), the rule's parameters and the
    sentence to show (简体, with the values received when known)."""

    kind: str
    columns: tuple[str, ...]
    params: dict = field(default_factory=dict)
    text: str = ""

    def __str__(self) -> str:
        return self.text


class Refused(sqlite3.IntegrityError):
    """The database refused a write: an IntegrityError (what every caller of a write expects,
    its text the sentence) that carries the typed Refusal."""

    def __init__(self, refusal: Refusal):
        super().__init__(refusal.text)
        self.refusal = refusal


def is_busy(ex: BaseException) -> bool:
    """Whether SQLite gave up waiting for another writer (by its error code, not its words)."""
    return getattr(ex, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")


def refusal_of(ex: BaseException) -> Refusal | None:
    """The typed refusal an exception carries, if it is one of ours."""
    return ex.refusal if isinstance(ex, Refused) else None


def required_sentence(label: str) -> str:
    return REQUIRED.format(label=label)


def explain(message: str, definition: Definition, table: str | None = None, rows=()) -> Refusal:
    """The refusal for a constraint error; with the rows that were being written (the JSON
    API's request body), the values received for the fields concerned are added."""
    reg = definition.registers.get(table or "")
    if m := _CHECK.match(message):
        text = m.group(1)
        kind, columns, params = _rule(reg, text)
    elif m := _NOT_NULL.match(message):
        return Refusal("required", (m.group(2),), {},
                       required_sentence(definition.column_label(m.group(1), m.group(2))))
    elif m := _UNIQUE.match(message):
        pairs = [p.strip().split(".", 1) for p in m.group(1).split(",")]
        labels = "、".join(definition.column_label(t, c) for t, c in pairs)
        owner = definition.registers.get(pairs[0][0])
        text = UNIQUE.format(register=owner.label if owner else pairs[0][0], labels=labels)
        kind, columns, params = "unique", tuple(c for _, c in pairs), {}
    elif message == "FOREIGN KEY constraint failed":
        return Refusal("foreign_key", (), {}, FOREIGN_KEY)
    else:
        # A guard trigger raises its rule's sentence bare (no "CHECK constraint failed:"): the
        # same rule; any other sentence is said as it is.
        kind, columns, params = _rule(reg, message)
        return Refusal(kind, columns, params, message)
    received = _received(reg, columns, rows) if reg else ""
    return Refusal(kind, columns, params, f"{text}（收到的值：{received}）" if received else text)


def _rule(reg, name: str) -> tuple[str, tuple[str, ...], dict]:
    """(kind, columns judged, params) of the register's rule named `name` (a constraint's name
    is its sentence: how SQLite reports it), or "other" when it is none of them."""
    if reg is None:
        return "other", (), {}
    for check in column_checks(reg):
        if check.message == name:
            return check.kind, check.judged, check.params
    if any(c["message"] == name for c in reg.checks):
        return "rule", tuple(check_columns(reg)[name]), {}
    return "other", (), {}


def _received(reg, columns, rows, most: int = 3) -> str:
    parts = []
    for column in columns:
        values = list(dict.fromkeys(str(r[column]) for r in rows if isinstance(r, dict) and r.get(column) is not None))
        if values:
            shown = "、".join(f"「{v}」" for v in values[:most]) + (" 等" if len(values) > most else "")
            label = reg.columns[column].label if column in reg.columns else column   # id has no label
            parts.append(f"{label}{shown}")
    return "，".join(parts)
