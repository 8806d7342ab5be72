"""The register definition as rules for the browser (static/rules.js): for each column its
label, type, whether it is required, enum values with their synonyms, range, format, the date
it may not precede — and the very sentences the database and the server's form reading use,
so a person reads the same message whether the browser or the database refused the value.

The sentences are taken from their one home (the CHECK constraints in taizhang/schema.py,
the NOT NULL sentence in taizhang/messages.py, the date reading in taizhang/importer/values.py),
never retyped here. Register-wide checks written in SQL (the confidentiality agreement's party
rules) stay with the database: the form shows its answer next to the field."""

from __future__ import annotations

from taizhang.importer.values import CellError, parse_date
from taizhang.messages import explain
from taizhang.registers import Column, Register, load
# The per-column CHECK list, with its sentences: the database's rules are the ones mirrored.
from taizhang.schema import _checks, _guards

# Which CHECK sentence is which rule, told by the words schema.py builds it with.
_KINDS = [("不能为空", "blank"), ("必须是以下之一", "choice"), ("只能是 1（是）或 0（否）", "choice"),
          ("必须是有效日期", "date"), ("有效的日期时间", "datetime"), ("格式应为 YYYY", "period"), ("HH:MM", "time"), ("必须是整数", "integer"),
          ("必须是数字", "number"), ("必须在", "range"), ("不能小于", "range"), ("不能大于", "range"),
          ("格式不正确", "email"), ("应为电话号码", "phone"), ("不能早于", "not_before"),
          ("控制字符", "characters"), ("有限的数字", "finite"), ("二进制数据", "blob")]
PLACEHOLDER = "{value}"


def _date_sentences(open_ended: bool) -> dict[str, str]:
    """The form's own date sentences (values.py), with {value} where the typed text goes."""
    out = {}
    for kind, sample in (("unreadable", "X"), ("impossible", "2024-02-30")):
        try:
            parse_date(sample, open_ended=open_ended)
        except CellError as ex:
            out[kind] = f"{ex.reason}。{ex.hint}".replace(sample, PLACEHOLDER, 1)
    return out


def column_rules(reg: Register, col: Column, database: str) -> dict:
    messages = {}
    sentences = [s for s, _, _ in _checks(reg, col)] + [s for s, _ in _guards(reg, col)]
    for sentence in sentences:
        kind = next(k for words, k in _KINDS if words in sentence)
        messages[kind] = sentence
    if col.required:
        messages["required"] = explain(f"NOT NULL constraint failed: {reg.name}.{col.name}", load())
    if col.type == "date":
        messages.update(_date_sentences(col.open_ended))
    rule = {
        "name": col.name, "label": col.label, "type": col.type, "required": col.required,
        "min": col.min, "max": col.max, "format": col.format, "not_before": col.not_before,
        "open_ended": col.open_ended, "long": col.long, "markdown": col.markdown, "help": col.help,
        "messages": messages,
    }
    if col.type in ("enum", "bool"):
        rule["choices"] = [{"value": v, "label": ("是" if v else "否") if col.type == "bool" else v} for v in col.values]
        rule["synonyms"] = col.synonyms()
    if col.type == "fk":
        rule["references"] = col.references
        rule["picker"] = f"/-/choices/{database}/{reg.name}/{col.name}"
    return rule


def register_rules(reg: Register) -> dict:
    """Everything static/rules.js needs to check one register's rows."""
    return {"register": reg.name, "database": reg.database, "label": reg.label,
            "columns": {c.name: column_rules(reg, c, reg.database) for c in reg.columns.values()}}

