"""The register definition (db/registers.yml), loaded into plain objects.

Everything else — schema, metadata.yml, datasette.yml, imports, tests — reads this module,
never the YAML directly, so derived facts (traditional labels, role grants) have one home.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from dataclasses import dataclass, field

import yaml

from taizhang.chinese import spellings, to_traditional

DEFINITION_PATH = pathlib.Path(__file__).resolve().parent.parent / "db" / "registers.yml"

COLUMN_TYPES = {"text", "int", "real", "date", "bool", "enum", "fk", "period", "time"}
# Every register also has these, kept by the database (see taizhang/schema.py).
SYSTEM_COLUMNS = ("id", "created_at", "updated_at")
ACTIONS = ("read", "write", "delete")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    label: str
    en: str
    required: bool = False
    unique: bool = False
    references: str | None = None
    min: float | None = None
    max: float | None = None
    format: str | None = None
    not_before: str | None = None
    open_ended: bool = False
    money: bool = False
    long: bool = False
    markdown: bool = False
    help: str | None = None
    # canonical value -> accepted synonyms (enum columns; bool columns: 1/0 -> yes/no words)
    values: dict = field(default_factory=dict)
    header_synonyms: tuple[str, ...] = ()
    # Part of the register's natural key (text): stored normalised, see taizhang/characters.py.
    key: bool = False

    @property
    def label_hant(self) -> str:
        return to_traditional(self.label)

    @property
    def sql_type(self) -> str:
        return {"int": "INTEGER", "real": "REAL", "bool": "INTEGER", "fk": "INTEGER"}.get(
            self.type, "TEXT"
        )

    def synonyms(self) -> dict[str, str | int]:
        """Normalised input -> canonical value, for every enum value and synonym in 简 and
        every 繁 spelling whose t2s is it (合作夥伴 -> 合作伙伴), any case (bool columns: the
        shared yes/no words -> 1/0). Built once per column: an import asks for every cell."""
        return self._synonyms

    @functools.cached_property
    def _synonyms(self) -> dict[str, str | int]:
        lookup: dict[str, str | int] = {}
        for canonical, words in self.values.items():
            for word in [canonical, *words]:
                for form in {to_traditional(str(word)), *spellings(str(word))}:
                    lookup[normalise_token(form)] = canonical
        return lookup


@dataclass(frozen=True)
class Register:
    name: str
    database: str
    label: str
    en: str
    purpose: str
    columns: dict[str, Column]
    natural_key: tuple[str, ...]
    label_column: str
    picker_detail: str | None = None
    sort: str | None = None
    sort_desc: str | None = None
    facets: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    reference: bool = False
    confidential: bool = False
    checks: tuple[dict, ...] = ()
    cross_references: dict = field(default_factory=dict)
    derive: dict = field(default_factory=dict)
    seed: tuple[dict, ...] = ()
    name_synonyms: dict = field(default_factory=dict)

    @property
    def label_hant(self) -> str:
        return to_traditional(self.label)

    @property
    def key_columns(self) -> list[str]:
        """The text columns of the natural key: stored normalised (taizhang/characters.py)."""
        return [c for c in self.natural_key if c in self.columns and self.columns[c].type == "text"]

    @property
    def name_columns(self) -> list[str]:
        """Text that names a record — the natural key, unique columns, the label column: no
        control or bidi-override characters there."""
        named = [*self.key_columns, *(c for c, col in self.columns.items() if col.unique), self.label_column]
        return [c for c in dict.fromkeys(named) if c in self.columns and self.columns[c].type == "text"]

    @property
    def foreign_keys(self) -> list[Column]:
        return [c for c in self.columns.values() if c.type == "fk"]

    def column_by_label(self) -> dict[str, Column]:
        return {c.label: c for c in self.columns.values()}


@dataclass(frozen=True)
class Definition:
    instance: dict
    databases: dict[str, dict]
    roles: dict[str, dict]
    access: dict[str, dict]
    areas: dict[str, list[str]]
    registers: dict[str, Register]

    def column_label(self, table: str, column: str) -> str:
        """A column's Chinese label; its name for columns the definition does not know."""
        reg = self.registers.get(table)
        return reg.columns[column].label if reg and column in reg.columns else column

    def registers_in(self, database: str) -> list[Register]:
        return [r for r in self.registers.values() if r.database == database]

    def grants(self, role: str, action: str) -> set[str]:
        """The registers a role may read / write / delete, from the `access:` table."""
        spec = self.access[role].get(action, [])
        if isinstance(spec, str):
            spec = [spec]
        names: set[str] = set()
        for item in spec:
            names |= self._register_group(item)
        return names

    def roles_allowed(self, action: str, register: str) -> list[str]:
        return [role for role in self.roles if register in self.grants(role, action)]

    def sql_roles(self, database: str) -> list[str]:
        return [role for role in self.roles if database in self.access[role].get("sql", [])]

    def sql_write_roles(self) -> list[str]:
        return [role for role in self.roles if self.access[role].get("sql_write")]

    def _register_group(self, item: str) -> set[str]:
        everything = set(self.registers)
        operational = {n for n, r in self.registers.items() if not r.confidential}
        groups = {
            "all": everything,
            "operational": operational,
            "operational_not_reference": {
                n for n in operational if not self.registers[n].reference
            },
        }
        if item in groups:
            return groups[item]
        if item not in self.registers:
            raise DefinitionError(f"access names unknown register {item!r}")
        return {item}


class DefinitionError(ValueError):
    pass


def normalise_token(value: str) -> str:
    """How enum synonyms are compared: trimmed (incl. U+3000, U+00A0), case-folded."""
    return str(value).strip(" \t\r\n\u3000\u00a0").casefold()


# The keys a column may have: anything else is a typo or a YAML slip (an unquoted comma in a
# flow mapping starts a new key), refused rather than silently dropped.
COLUMN_KEYS = {"type", "label", "en", "required", "unique", "references", "min", "max", "format", "not_before",
               "open_ended", "money", "long", "markdown", "help", "values", "header_synonyms"}


def _column(name: str, spec: dict, booleans: dict) -> Column:
    if spec.get("type") not in COLUMN_TYPES:
        raise DefinitionError(f"column {name}: unknown type {spec.get('type')!r}")
    if unknown := set(spec) - COLUMN_KEYS:
        raise DefinitionError(f"column {name}: unknown keys {sorted(unknown)!r}")
    for words in [*(spec.get("values") or {}).values(), *booleans.values()]:
        if any(isinstance(w, bool) for w in words or ()):
            raise DefinitionError(f"column {name}: quote yes/no/Y/N/TRUE/FALSE, YAML reads them as booleans")
    values = {str(k): [str(s) for s in (v or [])] for k, v in (spec.get("values") or {}).items()}
    if spec["type"] == "bool":
        values = {int(k): [str(s) for s in v] for k, v in booleans.items()}
    return Column(
        name=name,
        type=spec["type"],
        label=spec["label"],
        en=spec["en"],
        required=bool(spec.get("required")),
        unique=bool(spec.get("unique")),
        references=spec.get("references"),
        min=spec.get("min"),
        max=spec.get("max"),
        format=spec.get("format"),
        not_before=spec.get("not_before"),
        open_ended=bool(spec.get("open_ended")),
        money=bool(spec.get("money")),
        long=bool(spec.get("long")),
        markdown=bool(spec.get("markdown")),
        help=spec.get("help"),
        values=values,
        header_synonyms=tuple(spec.get("header_synonyms") or ()),
    )


def _register(name: str, spec: dict, booleans: dict) -> Register:
    columns = {c: _column(c, s, booleans) for c, s in spec["columns"].items()}
    for key in spec["natural_key"]:
        if key in columns and columns[key].type == "text":
            columns[key] = dataclasses.replace(columns[key], key=True)
    reg = Register(
        name=name,
        database=spec["database"],
        label=spec["label"],
        en=spec["en"],
        purpose=spec.get("purpose", ""),
        columns=columns,
        natural_key=tuple(spec["natural_key"]),
        label_column=spec["label_column"],
        picker_detail=spec.get("picker_detail"),
        sort=spec.get("sort"),
        sort_desc=spec.get("sort_desc"),
        facets=tuple(spec.get("facets") or ()),
        search=tuple(spec.get("search") or ()),
        reference=bool(spec.get("reference")),
        confidential=bool(spec.get("confidential")),
        checks=tuple(spec.get("checks") or ()),
        cross_references=spec.get("cross_references") or {},
        derive=spec.get("derive") or {},
        seed=tuple(spec.get("seed") or ()),
        name_synonyms=spec.get("name_synonyms") or {},
    )
    named = set(columns) | set(SYSTEM_COLUMNS)
    if reg.picker_detail and reg.picker_detail not in named:
        raise DefinitionError(f"{name}.picker_detail names unknown column {reg.picker_detail!r}")
    for attr in ("natural_key", "facets", "search"):
        for col in getattr(reg, attr):
            if col not in named:
                raise DefinitionError(f"{name}.{attr} names unknown column {col!r}")
    return reg


def parse(data: dict) -> Definition:
    booleans = data.get("booleans") or {}
    registers = {n: _register(n, s, booleans) for n, s in data["registers"].items()}
    for reg in registers.values():
        for col in reg.foreign_keys:
            target = registers.get(col.references)
            if target is None:
                raise DefinitionError(f"{reg.name}.{col.name} references unknown {col.references!r}")
            if target.database != reg.database:
                raise DefinitionError(
                    f"{reg.name}.{col.name}: a foreign key cannot cross database files; "
                    "use cross_references"
                )
    definition = Definition(
        instance=data["instance"],
        databases=data["databases"],
        roles=data["roles"],
        access=data["access"],
        areas=data["areas"],
        registers=registers,
    )
    for role in definition.roles:
        for action in ACTIONS:
            definition.grants(role, action)  # raises on unknown names
    return definition


@functools.cache
def load(path: pathlib.Path = DEFINITION_PATH) -> Definition:
    return parse(yaml.safe_load(path.read_text(encoding="utf-8")))
