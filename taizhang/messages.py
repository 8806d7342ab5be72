"""SQLite's constraint errors, turned into sentences staff can act on (Chinese).

CHECK constraints are named with their sentence already (taizhang/schema.py), so only the
prefix goes; NOT NULL, UNIQUE and FOREIGN KEY errors name columns, which become labels.
"""

from __future__ import annotations

import re

from taizhang.registers import Definition
from taizhang.schema import check_columns

# What a write is told when another writer (an import) holds the database longer than it waits.
BUSY = "正在导入或写入数据，数据库暂时被占用，请稍后重试"

_CHECK = re.compile(r"^CHECK constraint failed: (.+)$")
_NOT_NULL = re.compile(r"^NOT NULL constraint failed: (\w+)\.(\w+)$")
_UNIQUE = re.compile(r"^UNIQUE constraint failed: (.+)$")


def explain(message: str, definition: Definition, table: str | None = None, rows=()) -> str:
    """The sentence for a constraint error; with the rows that were being written (the JSON
    API's request body), the values received for the fields concerned are added."""
    reg = definition.registers.get(table or "")
    if m := _CHECK.match(message):
        text = m.group(1)
        columns = check_columns(reg).get(text, []) if reg else []
    elif m := _NOT_NULL.match(message):
        return f"{definition.column_label(m.group(1), m.group(2))}为必填项，不能为空"
    elif m := _UNIQUE.match(message):
        pairs = [p.strip().split(".", 1) for p in m.group(1).split(",")]
        labels = "、".join(definition.column_label(t, c) for t, c in pairs)
        owner = definition.registers.get(pairs[0][0])
        text = f"{owner.label if owner else pairs[0][0]}中已有{labels}相同的记录，{labels}不能重复"
        columns = [c for _, c in pairs]
    elif message == "FOREIGN KEY constraint failed":
        return "引用的记录不存在，或本记录仍被其他台账引用而不能删除或修改编号"
    else:
        return message
    received = _received(reg, columns, rows) if reg else ""
    return f"{text}（收到的值：{received}）" if received else text


def _received(reg, columns: list[str], rows, most: int = 3) -> str:
    parts = []
    for column in columns:
        values = list(dict.fromkeys(str(r[column]) for r in rows if isinstance(r, dict) and r.get(column) is not None))
        if values:
            shown = "、".join(f"「{v}」" for v in values[:most]) + (" 等" if len(values) > most else "")
            parts.append(f"{reg.columns[column].label}{shown}")
    return "，".join(parts)
