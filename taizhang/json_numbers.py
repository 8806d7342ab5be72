"""Numbers a JSON write body may carry that no register holds: NaN, Infinity, -Infinity and
numbers beyond a double (1e400). Python's json module, which Datasette's write API uses, reads
all of them as floats; SQLite then stores NaN as NULL — a value silently lost — so they are
refused before the write, with the field they were sent for."""

from __future__ import annotations

import math

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
            if isinstance(value, float) and not math.isfinite(value):
                label = reg.columns[column].label if reg and column in reg.columns else column
                out.append(f"{not_finite_sentence(label)}（收到 {value}）")
    return list(dict.fromkeys(out))
