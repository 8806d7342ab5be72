"""The English of every rule sentence the registers can refuse a write with, said from the typed
rules rather than read back out of the Chinese: each column rule from its kind and parameters
(taizhang/checks.py), explain()'s NOT NULL and UNIQUE sentences from their columns, with the
English templates of db/translations.yml `kinds:` and the definition's `en:` labels.

The result is an exact table, 简体 sentence -> English, that the English catalogue adds to its
own (taizhang/i18n.py); a sentence quoting the values received is its sentence plus a suffix the
catalogue's patterns know."""

from __future__ import annotations

from taizhang import checks, messages
from taizhang.registers import Definition, Register
from taizhang.schema import column_checks, not_finite_sentence

# Columns every register has that the definition does not list: how English names them.
SYSTEM_COLUMNS = {"id": "ID"}


def sentences(definition: Definition, templates: dict[str, str]) -> dict[str, str]:
    """简体 -> English of every register's rule sentences. `templates`: kind -> English (every
    kind the schema and explain() build must have one: a missing one is a KeyError here)."""
    missing = [k for k in (*checks.KINDS, "required", "unique") if k not in templates]
    if missing:
        raise KeyError(f"no English for the rule kinds {missing}: add them to db/translations.yml kinds:")
    out: dict[str, str] = {}
    for reg in definition.registers.values():
        english = _english_label(reg)
        for check in column_checks(reg):
            out.setdefault(check.message, checks.sentence(templates[check.kind], check.column, check.params, english))
        for col in reg.columns.values():
            # json_numbers refuses Infinity and 1e400 sent for any field, not only real ones; a
            # NOT NULL a table was given outside the definition names any column too.
            out.setdefault(not_finite_sentence(col.label), templates["finite"].format(label=col.en))
            out.setdefault(messages.required_sentence(col.label), templates["required"].format(label=col.en))
        for key in _keys(reg):
            chinese = messages.UNIQUE.format(register=reg.label, labels="、".join(_label(reg, c) for c in key))
            out.setdefault(chinese, templates["unique"].format(register=reg.en, labels=", ".join(map(english, key))))
    return out


def _keys(reg: Register) -> list[tuple[str, ...]]:
    """The column sets a UNIQUE refusal can name: the id, each unique column, the natural key."""
    keys = [("id",), *((c.name,) for c in reg.columns.values() if c.unique)]
    if reg.natural_key and tuple(reg.natural_key) not in keys:
        keys.append(tuple(reg.natural_key))
    return keys


def _label(reg: Register, column: str) -> str:
    return reg.columns[column].label if column in reg.columns else column


def _english_label(reg: Register):
    return lambda column: reg.columns[column].en if column in reg.columns else SYSTEM_COLUMNS.get(column, column)
