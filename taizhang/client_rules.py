"""The register definition as rules for the browser (static/rules.js): for each column its
label, type, whether it is required, enum values with their synonyms, range, format, the date
it may not precede — and the very sentences the database and the server's form reading use,
so a person reads the same message whether the browser or the database refused the value.

The sentences are taken from their one home (the typed checks of taizhang/schema.py, keyed
by their kind, the NOT NULL sentence in taizhang/messages.py, the date reading in
taizhang/importer/values.py), never retyped here nor told apart by their words. Register-wide checks written in SQL (the confidentiality agreement's party
rules) stay with the database: the form shows its answer next to the field."""

from __future__ import annotations

from taizhang.checks import Check
from taizhang.importer.values import CellError, parse_date
from taizhang.messages import required_sentence
from taizhang.registers import Column, Register
# The per-column rules, typed, with their sentences: the database's rules are the ones mirrored.
from taizhang.schema import _checks, _guards

# Under which key static/rules.js finds each kind of rule's sentence (`rule.messages[key]`):
# every kind in taizhang/checks.py KINDS, so a new kind is a KeyError here, never a rule the
# browser silently goes without.
MESSAGE_KEYS = {
    "blank": "blank", "choice": "choice", "yes_no": "choice", "date": "date", "datetime": "datetime",
    "period": "period", "time": "time", "integer": "integer", "number": "number",
    "range": "range", "at_least": "range", "at_most": "range", "email": "email", "phone": "phone",
    "not_before": "not_before", "characters": "characters", "finite": "finite", "blob": "blob",
}
PLACEHOLDER = "{value}"


def message_key(check: Check) -> str:
    """The rules.js key of a check's sentence; an unknown kind fails loudly."""
    try:
        return MESSAGE_KEYS[check.kind]
    except KeyError:
        raise KeyError(f"check kind {check.kind!r} ({check.message}) has no browser message key:"
                       " add it to taizhang/client_rules.py MESSAGE_KEYS") from None


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
    messages = {message_key(check): check.message for check in [*_checks(reg, col), *_guards(reg, col)]}
    if col.required:
        messages["required"] = required_sentence(col.label)
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

