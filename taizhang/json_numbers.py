"""Numbers a JSON write body may carry that no register holds: NaN, Infinity, -Infinity,
numbers beyond a double (1e400) and integers beyond SQLite's 64 bits. Python's json module,
which Datasette's write API uses, reads the first ones as floats — SQLite then stores NaN as
NULL, a value silently lost — and the last as an int that cannot even be bound (an English
error). So they are refused before the write, with the field they were sent for."""

from __future__ import annotations

import math

from taizhang.importer.values import SQLITE_MAX_INT, SQLITE_MIN_INT
from taizhang.registers import Definition
from taizhang.schema import not_finite_sentence


def _rows(data) -> list:
    if not isinstance(data, dict):
        return []
    rows = data.get("rows") if isinstance(data.get("rows"), list) else []
    return [*rows, *(data[k] for k in ("row", "update") if k in data)]


def refusals(definition: Definition, table: str | None, data) -> list[str]:
    """One sentence per field sent a non-finite number (empty when there is none)."""
    reg = definition.registers.get(table or "")
    out = []
    for row in _rows(data):
        if not isinstance(row, dict):
            continue
        for column, value in row.items():
            label = reg.columns[column].label if reg and column in reg.columns else column
            if isinstance(value, float) and not math.isfinite(value):
                out.append(f"{not_finite_sentence(label)}（收到的值：{value}）")
            elif isinstance(value, int) and not SQLITE_MIN_INT <= value <= SQLITE_MAX_INT:
                out.append(f"{label}的数值过大，超出了可保存的范围（最大 {SQLITE_MAX_INT}）")
    return list(dict.fromkeys(out))
