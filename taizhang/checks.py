"""The rules of one column as typed data: what kind of rule it is, the columns it judges and
its parameters (allowed values, limits, the other column), with the sentence that names it.

taizhang/schema.py builds them (`_checks` for CHECK constraints, `_guards` for BEFORE triggers)
and writes their SQL; the browser rules, the importer, explain() and the English catalogue read
the kind and the parameters, never the words of the sentence. The sentence is still the
constraint's name in the database: SQLite reports it, and existing files are named with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# Every kind of column rule the schema builds: closed, so each reader (browser rules, English)
# can say in a test that it knows them all.
KINDS = (
    "blank", "choice", "yes_no", "date", "datetime", "period", "time", "integer", "number",
    "range", "at_least", "at_most", "email", "phone", "not_before",
    "blob", "characters", "finite",
)

# The 简体 sentence of each kind; {label} is the column's label, {other} the other column's,
# {values} the allowed values, {min}/{max} the limits. db/translations.yml `kinds:` has the
# English with the same fields.
SENTENCES = {
    "blank": "{label}不能为空",
    "choice": "{label}必须是以下之一：{values}",
    "yes_no": "{label}只能是 1（是）或 0（否）",
    "date": "{label}必须是有效日期（YYYY-MM-DD）",
    "datetime": "{label}必须是有效的日期时间（YYYY-MM-DD HH:MM）",
    "period": "{label}格式应为 YYYY、YYYY-Qn 或 YYYY-MM",
    "time": "{label}格式应为 HH:MM（24 小时制）",
    "integer": "{label}必须是整数",
    "number": "{label}必须是数字",
    "range": "{label}必须在 {min:g} 到 {max:g} 之间",
    "at_least": "{label}不能小于 {min:g}",
    "at_most": "{label}不能大于 {max:g}",
    "email": "{label}格式不正确，应如 name@example.com",
    "phone": "{label}应为电话号码（数字，可含 + - 空格 括号）",
    "not_before": "{label}不能早于{other}",
    "blob": "{label}不能是二进制数据（BLOB），请填写文字或数字",
    "characters": "{label}不能含有控制字符或文字方向控制符（如换行、制表符、U+202E），请删除后再保存",
    "finite": "{label}必须是有限的数字，不能是无穷大（Infinity、1e400）或 NaN",
}

@dataclass(frozen=True)
class Check:
    """One rule of one column. `sql` holds when the value is NULL, like a CHECK; `judged` are
    the columns whose values it judges (the column itself first: where a refusal is shown)."""

    kind: str
    column: str
    message: str
    sql: str
    judged: tuple[str, ...]
    params: dict = field(default_factory=dict)


def sentence(template: str, column: str, params: dict, label_of: Callable[[str], str]) -> str:
    """A rule's sentence from a template of its kind (SENTENCES, or the English one);
    `label_of(column)` names a column in the sentence's language. Values are data: as stored."""
    other = params.get("other")
    return template.format(label=label_of(column), other=label_of(other) if other else "",
                           values="、".join(map(str, params.get("values", ()))),
                           min=params.get("min"), max=params.get("max"))


def make(kind: str, column: str, sql: str, label_of: Callable[[str], str], **params) -> Check:
    """A Check of `kind` on `column`, its 简体 sentence built from the kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown check kind {kind!r}: add it to taizhang/checks.py KINDS")
    judged = (column, params["other"]) if "other" in params else (column,)
    return Check(kind, column, sentence(SENTENCES[kind], column, params, label_of), sql, judged, params)
