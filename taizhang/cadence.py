"""Cadence checks: "one per period" rules of the definition (`cadence:` in db/registers.yml — a
weekly meeting every week, a monthly plan per department, a weekly report per employee in post),
generated as reports of what is missing.

Each rule becomes one stored query over the last complete periods before today (the week, month,
quarter or year in progress is not yet missing anything). Periods are made by a recursive CTE, so
the report is plain SQL an analyst can read and copy.
"""

from __future__ import annotations

from taizhang.registers import Definition, Register
from taizhang.schema import quote

# Default number of complete periods a report looks back over.
PERIODS = {"week": 8, "month": 6, "quarter": 4, "year": 2}
EVERY_LABEL = {"week": "周", "month": "个月", "quarter": "个季度", "year": "年"}

# The first day of the last complete period, and of the n-th period before it (n from 0).
_LAST_START = {
    "week": "date(:_tz_today, '-6 days', 'weekday 1', '-7 days')",
    "month": "date(:_tz_today, 'start of month', '-1 month')",
    "quarter": ("date(:_tz_today, 'start of month', '-' || ((cast(strftime('%m', :_tz_today) as integer) - 1) % 3)"
                " || ' months', '-3 months')"),
    "year": "date(:_tz_today, 'start of year', '-1 year')",
}
_STEP = {"week": "'-' || (({n}) * 7) || ' days'", "month": "'-' || ({n}) || ' months'",
         "quarter": "'-' || (({n}) * 3) || ' months'", "year": "'-' || ({n}) || ' years'"}
_LENGTH = {"week": "'+6 days'", "month": "'+1 month', '-1 day'", "quarter": "'+3 months', '-1 day'",
           "year": "'+1 year', '-1 day'"}
# How a period is named: the same text a `period` column holds (YYYY-MM, YYYY-Qn, YYYY).
_LABEL = {
    "week": "starts_on || ' 至 ' || ends_on",
    "month": "strftime('%Y-%m', starts_on)",
    "quarter": "strftime('%Y', starts_on) || '-Q' || ((cast(strftime('%m', starts_on) as integer) + 2) / 3)",
    "year": "strftime('%Y', starts_on)",
}


def _periods_cte(every: str, count: int) -> str:
    return (
        f"periods(n, starts_on) as (select 0, {_LAST_START[every]}"
        f" union all select n + 1, date({_LAST_START[every]}, {_STEP[every].format(n='n + 1')})"
        f" from periods where n + 1 < {count}),\n"
        f"  named as (select starts_on, date(starts_on, {_LENGTH[every]}) as ends_on from periods),\n"
        f"  labelled as (select {_LABEL[every]} as label, starts_on, ends_on from named)"
    )


def report_sql(definition: Definition, reg: Register, rule: dict) -> str:
    every = rule["every"]
    count = int(rule.get("periods") or PERIODS[every])
    if "date" in rule:
        match = f"t.{quote(rule['date'])} between p.starts_on and p.ends_on"
    else:
        if every == "week":
            raise ValueError(f"{reg.name}: a weekly cadence needs a date column")
        match = f"t.{quote(rule['period'])} = p.label"
    where = f" and ({rule['where']})" if rule.get("where") else ""
    columns = ["p.label as 期间", "p.starts_on as 开始日期", "p.ends_on as 结束日期"]
    if not rule.get("per"):
        body = (f"select {', '.join(columns)} from labelled p\n"
                f"where not exists (select 1 from {quote(reg.name)} t where {match}{where})\n"
                "order by p.starts_on desc")
    else:
        per = reg.columns[rule["per"]]
        target = definition.registers[per.references]
        among = rule.get("among") or f"select id from {quote(target.name)}"
        columns.append(f"r.{quote(target.label_column)} as {quote(per.label)}")
        key = [k for k in target.key_columns if k != target.label_column]
        columns += [f"r.{quote(k)} as {quote(target.columns[k].label)}" for k in key]
        body = (f"select {', '.join(columns)}\nfrom labelled p cross join ({among}) x"
                f" join {quote(target.name)} r on r.id = x.id\n"
                f"where not exists (select 1 from {quote(reg.name)} t where t.{quote(per.name)} = x.id"
                f" and {match}{where})\n"
                f"order by p.starts_on desc, r.{quote(target.label_column)}")
    return f"with recursive {_periods_cte(every, count)}\n{body}"


def reports(definition: Definition) -> dict[str, dict[str, dict]]:
    """database -> report name -> {title, description, sql}, one report per cadence rule."""
    out: dict[str, dict[str, dict]] = {}
    for reg in definition.registers.values():
        for i, rule in enumerate(reg.cadence, 1):
            every = rule["every"]
            count = int(rule.get("periods") or PERIODS[every])
            per = f"每个{reg.columns[rule['per']].label}" if rule.get("per") else ""
            out.setdefault(reg.database, {})[f"missing_{reg.name}_{i}"] = {
                "title": f"缺少的{rule['label']}",
                "description": (f"最近 {count} {EVERY_LABEL[every]}（已结束的）中，{per}应有而{reg.label}里没有的"
                                f"{rule['label']}：每{EVERY_LABEL[every].lstrip('个')}一份。"),
                "sql": report_sql(definition, reg, rule) + "\n",
            }
    return out
