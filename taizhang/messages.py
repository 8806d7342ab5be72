"""SQLite's constraint errors, turned into sentences staff can act on (Chinese).

CHECK constraints are named with their sentence already (taizhang/schema.py), so only the
prefix goes; NOT NULL, UNIQUE and FOREIGN KEY errors name columns, which become labels.
"""

from __future__ import annotations

import re

from taizhang.registers import Definition

_CHECK = re.compile(r"^CHECK constraint failed: (.+)$")
_NOT_NULL = re.compile(r"^NOT NULL constraint failed: (\w+)\.(\w+)$")
_UNIQUE = re.compile(r"^UNIQUE constraint failed: (.+)$")


def _label(definition: Definition, table: str, column: str) -> str:
    reg = definition.registers.get(table)
    if reg and column in reg.columns:
        return reg.columns[column].label
    return column


def explain(message: str, definition: Definition) -> str:
    if m := _CHECK.match(message):
        return m.group(1)
    if m := _NOT_NULL.match(message):
        return f"{_label(definition, m.group(1), m.group(2))}为必填项，不能为空"
    if m := _UNIQUE.match(message):
        pairs = [p.strip().split(".", 1) for p in m.group(1).split(",")]
        table = pairs[0][0]
        labels = "、".join(_label(definition, t, c) for t, c in pairs)
        reg = definition.registers.get(table)
        where = reg.label if reg else table
        return f"{where}中已有{labels}相同的记录，{labels}不能重复"
    if message == "FOREIGN KEY constraint failed":
        return "引用的记录不存在，或本记录仍被其他台账引用而不能删除或修改编号"
    return message
