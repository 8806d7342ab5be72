"""The dashboard (仪表盘) as SQL, from the definition: rows by workflow state, overdue and
due-soon items (the `due:` rules, taizhang/due.py), and the trends of `dashboard:` — each over
the rows one reader may read (`where`, a condition over row `t` from taizhang/row_access.py),
each group with the table URL query that filters the register to exactly its rows."""

from __future__ import annotations

import datetime
import urllib.parse

from taizhang import due
from taizhang.registers import Chart, Definition, Register
from taizhang.schema import quote

BLANK = "（未填）"   # the group of rows that leave the column empty

# A date or 'YYYY-MM-DD HH:MM' column's bucket, as text that sorts in time order.
_BUCKET_SQL = {
    "day": "substr({c}, 1, 10)",
    "week": "date(substr({c}, 1, 10), '-6 days', 'weekday 1')",   # the Monday it falls in
    "month": "substr({c}, 1, 7)",
    "quarter": "substr({c}, 1, 4) || '-Q' || ((CAST(substr({c}, 6, 2) AS INTEGER) + 2) / 3)",
    "year": "substr({c}, 1, 4)",
}


def _scoped(where: str | None) -> str:
    return f" WHERE {where}" if where else ""


# -- states and deadlines -----------------------------------------------------------------------
def state_counts_sql(reg: Register, where: str | None) -> str:
    column = quote(reg.workflow.column)
    return f"SELECT t.{column} AS state, count(*) AS n FROM {quote(reg.name)} t{_scoped(where)} GROUP BY 1"


def states(reg: Register, counts: dict) -> list[dict]:
    """Every state in the workflow's order (empty ones too: a process at a glance), with its link."""
    column = reg.workflow.column
    return [{"state": s, "count": counts.get(s, 0), "query": _query({column: s})} for s in reg.columns[column].values]


def due_counts_sql(definition: Definition, reg: Register, where: str | None) -> str:
    """Items past their deadline, and items within their reminder window, over the reader's rows.
    Params: those of due.params()."""
    parts = [f"SELECT row_id, due_at, soon_at FROM ({due.items_sql(definition, reg, n, where)})" for n in range(len(reg.due))]
    return ("SELECT count(DISTINCT CASE WHEN :_tz_now >= due_at THEN row_id END) AS overdue,"
            " count(DISTINCT CASE WHEN :_tz_now < due_at AND :_tz_now >= soon_at THEN row_id END) AS soon"
            f" FROM ({' UNION ALL '.join(parts)})")


# -- trends ---------------------------------------------------------------------------------------
def chart_sql(definition: Definition, chart: Chart, where: str | None) -> str:
    """One row per (group, series): `grp` (sortable text or a reference's id), `label` (what
    people read), `series`, `value`."""
    reg = definition.registers[chart.register]
    by = reg.columns[chart.by]
    c = f"t.{quote(by.name)}"
    if chart.every:
        group = _BUCKET_SQL[chart.every].format(c=c)
        label = group
    elif by.type == "fk":
        target = definition.registers[by.references]
        group = c
        label = f"(SELECT x.{quote(target.label_column)} FROM {quote(target.name)} x WHERE x.id = {c})"
    else:
        group = label = c
    value = {"count": "count(*)", "sum": f"round(total(t.{quote(chart.of or '')}), 2)",
             "avg": f"round(avg(t.{quote(chart.of or '')}), 1)"}[chart.measure]
    series = f"t.{quote(chart.split)}" if chart.split else "NULL"
    return (f"SELECT {group} AS grp, {label} AS label, {series} AS series, {value} AS value"
            f" FROM {quote(reg.name)} t{_scoped(where)} GROUP BY 1, 2, 3")


def chart_data(definition: Definition, chart: Chart, rows: list[dict]) -> dict:
    """Chart.js-shaped data: labels, one dataset per series, and for every point the table
    query (filters) that lists its rows."""
    reg = definition.registers[chart.register]
    by = reg.columns[chart.by]
    groups: dict = {}
    for row in rows:
        if row["grp"] is None and chart.every:
            continue   # rows without a date are in no period
        groups.setdefault(row["grp"], row["label"])
    keys = _ordered(by, groups, chart)
    if chart.last:
        keys = keys[-chart.last:]
    split_values = list(reg.columns[chart.split].values) if chart.split else [None]
    present = {row["series"] for row in rows}
    split_values = [s for s in split_values if s in present] + ([None] if chart.split and None in present else [])
    values = {(row["grp"], row["series"]): row["value"] for row in rows}
    datasets = []
    for s in split_values:
        extra = ({} if not chart.split else {f"{chart.split}__isnull": 1} if s is None else {chart.split: s})
        datasets.append({
            "label": (BLANK if s is None else str(s)) if chart.split else chart.title,
            "data": [values.get((k, s), 0) for k in keys],
            "links": [_query({**_group_filter(chart, by, k), **extra}) for k in keys],
        })
    return {"labels": [_group_label(chart, k, groups[k]) for k in keys], "datasets": datasets}


def _ordered(by, groups: dict, chart: Chart) -> list:
    if by.type == "enum":
        order = {v: i for i, v in enumerate(by.values)}
        return sorted(groups, key=lambda k: (k is None, order.get(k, len(order))))
    if by.type == "fk":
        return sorted(groups, key=lambda k: (k is None, str(groups[k] or "")))
    return sorted(groups, key=lambda k: (k is None, str(k)))


def _group_label(chart: Chart, key, label) -> str:
    if key is None:
        return BLANK
    if chart.every == "week":
        return key[5:]   # the week's Monday: 11-16
    return str(label if label is not None else key)


def _group_filter(chart: Chart, by, key) -> dict:
    if key is None:
        return {f"{by.name}__isnull": 1}
    if not chart.every:
        return {by.name: key}
    start, end = bucket_range(chart.every, key)
    return {f"{by.name}__gte": start, f"{by.name}__lt": end}


def bucket_range(every: str, key: str) -> tuple[str, str]:
    """The dates [start, end) of one bucket: compared as text, a 'YYYY-MM-DD HH:MM' value of the
    day before `end` is still below it."""
    if every in ("day", "week"):
        start = datetime.date.fromisoformat(key)
        return key, (start + datetime.timedelta(days=1 if every == "day" else 7)).isoformat()
    if every == "year":
        return f"{key}-01-01", f"{int(key) + 1}-01-01"
    year, month = (int(key[:4]), int(key[5:7])) if every == "month" else (int(key[:4]), 3 * int(key[-1]) - 2)
    months = 1 if every == "month" else 3
    end_year, end_month = year + (month + months - 1) // 12, (month + months - 1) % 12 + 1
    return f"{year}-{month:02d}-01", f"{end_year}-{end_month:02d}-01"


def _query(filters: dict) -> str:
    return "?" + urllib.parse.urlencode(filters)
