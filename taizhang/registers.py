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

COLUMN_TYPES = {"text", "int", "real", "date", "datetime", "bool", "enum", "fk", "period", "time"}
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


# People a workflow or a reminder names besides roles: the row's owner, the head of the owner's
# department, or (any other word) an employees column of the row.
OWNER = "owner"
DEPARTMENT_HEAD = "department_head"
# Row-level presets besides an employees column: the owner's rows, the departments one heads.
OWN = "own"
DEPARTMENT = "department"


# What a transition's `sets:` may fill a blank column with, and the column type each needs:
# the writer's local date or minute (the configured time zone), or the writer's employees.id.
SETS_VALUES = {"today": ("date",), "now": ("datetime",), "writer": ("fk",)}


@dataclass(frozen=True)
class Condition:
    """A transition's condition: SQL over the row's columns, and what it means for people."""

    sql: str
    label: str


@dataclass(frozen=True)
class Transition:
    action: str            # the button's word: 提交, 通过, 退回 …
    source: str            # one state it leaves (a definition's `from: [a, b]` is two transitions)
    target: str
    by: tuple[str, ...]    # people (see OWNER / DEPARTMENT_HEAD) and role names
    when: Condition | None = None
    comment: bool = False  # a comment is required (退回、驳回 say why)
    # Columns the transition fills in when they are blank: (column, one of SETS_VALUES or a literal).
    sets: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Workflow:
    column: str
    initial: tuple[str, ...]
    create_by: tuple[str, ...]
    edit_states: tuple[str, ...]
    edit_by: tuple[str, ...]
    transitions: tuple[Transition, ...]
    # Columns only some of edit_by may change: (column, people) — the superior's score is the
    # superior's, even while the employee may edit the rest.
    edit_columns: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def leaving(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if t.source == state]

    @property
    def states(self) -> list[str]:
        seen = [*self.initial, *(s for t in self.transitions for s in (t.source, t.target))]
        return list(dict.fromkeys(seen))


@dataclass(frozen=True)
class Escalation:
    after_hours: float
    to: tuple[str, ...]


@dataclass(frozen=True)
class Due:
    """One deadline rule. Either `at` (SQL for a date or datetime of the row, bare column names)
    while `active` holds, or `state` + `hours`: due that long after the row entered the state."""

    label: str
    at: str | None
    state: str | None
    hours: float | None
    active: str | None              # SQL condition over the row (a `while:` state list becomes IN (...))
    remind: tuple[str, ...]
    before_hours: float
    escalate: tuple[Escalation, ...]


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
    # The processes (see the header of db/registers.yml).
    owner: str | None = None
    personal: bool = False
    rows: dict[str, tuple[str, ...]] = field(default_factory=dict)
    workflow: Workflow | None = None
    due: tuple[Due, ...] = ()
    parent: str | None = None          # the fk column whose row this one is a child of (added in place there)
    rollup: tuple[dict, ...] = ()      # {into, via, column, max}: a parent's column kept from its children
    on_transition: tuple[dict, ...] = ()
    cadence: tuple[dict, ...] = ()     # "one per period" rules (taizhang/cadence.py)
    print_title: str | None = None     # a row printed as this document (plugins/printing.py)

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


# Time buckets a dashboard chart may group a date/datetime column by.
BUCKETS = ("day", "week", "month", "quarter", "year")
CHART_KINDS = ("bar", "line")


@dataclass(frozen=True)
class Chart:
    """One trend of the dashboard (`dashboard:` in db/registers.yml): a register's rows grouped
    by a column (a date/datetime one by `every` bucket), counted or summed/averaged over `of`,
    one series per value of `split`, the newest `last` groups."""

    title: str
    en: str
    register: str
    by: str
    every: str | None = None
    measure: str = "count"          # count | sum | avg
    of: str | None = None
    split: str | None = None
    last: int | None = None
    kind: str = "bar"


@dataclass(frozen=True)
class Definition:
    instance: dict
    databases: dict[str, dict]
    roles: dict[str, dict]
    access: dict[str, dict]
    areas: dict[str, list[str]]
    registers: dict[str, Register]
    charts: tuple[Chart, ...] = ()

    def column_label(self, table: str, column: str) -> str:
        """A column's Chinese label; its name for columns the definition does not know."""
        reg = self.registers.get(table)
        return reg.columns[column].label if reg and column in reg.columns else column

    def children(self, parent: str) -> list[Register]:
        """The registers whose rows belong to a row of `parent` (their `parent:` column refers to
        it): added in place from the parent row's page."""
        return [r for r in self.registers.values() if r.parent and r.columns[r.parent].references == parent]

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

    @property
    def derived_roles(self) -> list[str]:
        """Roles no one is given by hand (department_head: from departments.manager_id)."""
        return [role for role, spec in self.roles.items() if spec.get("derived")]

    def row_scope(self, roles, register: str) -> tuple[str, ...] | None:
        """The row-level presets a login with these roles reads a register through: None for
        every row (some role of theirs reads it unnarrowed), () for none at all."""
        reg = self.registers[register]
        scopes: list[str] = []
        for role in roles or ():
            if role not in self.access or register not in self.grants(role, "read"):
                continue
            if role not in reg.rows:
                return None
            scopes += reg.rows[role]
        return tuple(dict.fromkeys(scopes))

    def _register_group(self, item: str) -> set[str]:
        everything = set(self.registers)
        operational = {n for n, r in self.registers.items() if not r.confidential and not r.personal}
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
REGISTER_KEYS = {"database", "label", "en", "reference", "purpose", "natural_key", "label_column", "picker_detail",
                 "sort", "sort_desc", "facets", "search", "confidential", "checks", "cross_references", "derive",
                 "seed", "name_synonyms", "columns", "owner", "personal", "rows", "workflow", "due", "parent",
                 "rollup", "on_transition", "cadence", "print"}
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


def _listed(value) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


def _sql_list(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _rollup(name: str, rule: dict, columns: dict[str, Column]) -> dict:
    """{into, via, column, max} or {into, via, latest, set: {parent column: child column}, where}."""
    shape = set(rule) - {"where"}
    if shape not in ({"into", "via", "column", "max"}, {"into", "via", "latest", "set"}):
        raise DefinitionError(f"{name}.rollup: give into, via and either column + max or latest + set, not {sorted(rule)}")
    unknown = {rule["via"], *([rule["max"]] if "max" in rule else [rule["latest"], *rule["set"].values()])} - set(columns)
    if unknown:
        raise DefinitionError(f"{name}.rollup names columns it does not have: {sorted(unknown)}")
    return rule


def _check_sets(name: str, action: str, columns: dict[str, Column], state: str, column_name: str, value) -> None:
    where = f"{name}.workflow transition {action!r} sets {column_name!r}"
    column = columns.get(column_name)
    if column is None or column_name == state:
        raise DefinitionError(f"{where}: not a column a transition may fill (the state column is its `to`)")
    if isinstance(value, str) and value in SETS_VALUES:
        if column.type not in SETS_VALUES[value] or (value == "writer" and column.references != "employees"):
            raise DefinitionError(f"{where}: {value} fills a {' or '.join(SETS_VALUES[value])} column"
                                  f"{' referencing employees' if value == 'writer' else ''}, not a {column.type} one")
    elif not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise DefinitionError(f"{where}: the value must be {', '.join(SETS_VALUES)} or a plain value, not {value!r}")


def _workflow(name: str, spec: dict | None, columns: dict[str, Column]) -> Workflow | None:
    if not spec:
        return None
    column = spec["column"]
    if column not in columns or columns[column].type != "enum":
        raise DefinitionError(f"{name}.workflow.column must be an enum column, not {column!r}")
    transitions = []
    for t in spec["transitions"]:
        when = t.get("when")
        sets = tuple((t.get("sets") or {}).items())
        for column_name, value in sets:
            _check_sets(name, t["action"], columns, column, column_name, value)
        for source in _listed(t["from"]):
            transitions.append(Transition(
                action=t["action"], source=source, target=str(t["to"]), by=_listed(t["by"]),
                when=Condition(when["sql"], when["label"]) if when else None, comment=bool(t.get("comment")),
                sets=sets))
    pairs = [(t.source, t.target) for t in transitions]
    if len(pairs) != len(set(pairs)) and any(t.when is None for t in transitions if pairs.count((t.source, t.target)) > 1):
        raise DefinitionError(f"{name}.workflow: two transitions between the same states need conditions")
    edit = spec.get("edit") or {}
    flow = Workflow(column=column, initial=_listed(spec["initial"]), create_by=_listed(spec.get("create_by")),
                    edit_states=_listed(edit.get("states")), edit_by=_listed(edit.get("by")),
                    transitions=tuple(transitions),
                    edit_columns=tuple((c, _listed(people)) for c, people in (edit.get("columns") or {}).items()))
    unknown_columns = {c for c, _ in flow.edit_columns} - set(columns)
    if unknown_columns:
        raise DefinitionError(f"{name}.workflow.edit.columns names columns it does not have: {sorted(unknown_columns)}")
    unknown = set(flow.states) - set(columns[column].values)
    if unknown:
        raise DefinitionError(f"{name}.workflow names states that are not values of {column}: {sorted(unknown)!r}")
    return flow


def _due(name: str, specs, columns: dict[str, Column], state_column: str) -> tuple[Due, ...]:
    rules = []
    for spec in specs or ():
        hours = spec.get("hours", 24 * spec["days"] if "days" in spec else None)
        active = spec.get("while")
        if isinstance(active, list):
            active = f"{state_column} IN ({_sql_list(active)})"
        state = spec.get("state")
        if (spec.get("at") is None) == (state is None):
            raise DefinitionError(f"{name}.due: give either at: or state: (with hours/days)")
        if state is not None and hours is None:
            raise DefinitionError(f"{name}.due for state {state!r} needs hours: or days:")
        escalate = tuple(
            Escalation(e.get("after_hours", 24 * e.get("after_days", 0)), _listed(e["to"]))
            for e in spec.get("escalate") or ())
        label = spec.get("label") or (f"「{state}」待处理" if state else columns[spec["at"]].label if spec["at"] in columns else "到期")
        rules.append(Due(label=label, at=spec.get("at"), state=state, hours=hours, active=active,
                         remind=_listed(spec["remind"]), before_hours=24 * spec.get("before_days", 0),
                         escalate=escalate))
    return tuple(rules)


def _register(name: str, spec: dict, booleans: dict) -> Register:
    if unknown := set(spec) - REGISTER_KEYS:
        raise DefinitionError(f"register {name}: unknown keys {sorted(unknown)!r}")
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
        owner=spec.get("owner"),
        personal=bool(spec.get("personal")),
        rows={role: _listed(presets) for role, presets in (spec.get("rows") or {}).items()},
        workflow=_workflow(name, spec.get("workflow"), columns),
        due=_due(name, spec.get("due"), columns, (spec.get("workflow") or {}).get("column", "status")),
        parent=spec.get("parent"),
        rollup=tuple(_rollup(name, rule, columns) for rule in spec.get("rollup") or ()),
        on_transition=tuple(spec.get("on_transition") or ()),
        cadence=tuple(spec.get("cadence") or ()),
        print_title=spec.get("print"),
    )
    named = set(columns) | set(SYSTEM_COLUMNS)
    if reg.picker_detail and reg.picker_detail not in named:
        raise DefinitionError(f"{name}.picker_detail names unknown column {reg.picker_detail!r}")
    for attr in ("natural_key", "facets", "search"):
        for col in getattr(reg, attr):
            if col not in named:
                raise DefinitionError(f"{name}.{attr} names unknown column {col!r}")
    for attr in ("owner", "parent"):
        col = getattr(reg, attr)
        if col and (col not in columns or columns[col].type != "fk"):
            raise DefinitionError(f"{name}.{attr} must be a reference column, not {col!r}")
    if reg.owner and columns[reg.owner].references != "employees":
        raise DefinitionError(f"{name}.owner must reference employees")
    for column, rule in reg.derive.items():
        if column not in columns:
            raise DefinitionError(f"{name}.derive names unknown column {column!r}")
        if not isinstance(rule, dict) or len({"weights", "thresholds", "default", "sql", "map"} & set(rule)) != 1:
            raise DefinitionError(f"{name}.derive.{column}: give exactly one of weights, thresholds, default, sql, map")
        if ("thresholds" in rule or "map" in rule) and rule.get("from") not in columns:
            raise DefinitionError(f"{name}.derive.{column}: from: must name a column")
    return reg


def _check_people(definition: Definition) -> None:
    """Every person a workflow, row rule or reminder names is a role, owner, department_head
    or an employees column of the register."""
    for reg in definition.registers.values():
        people_columns = {c.name for c in reg.foreign_keys if c.references == "employees"}
        named = []
        if reg.workflow:
            flow = reg.workflow
            named += [*flow.create_by, *flow.edit_by, *(p for t in flow.transitions for p in t.by),
                      *(p for _, people in flow.edit_columns for p in people)]
        for rule in reg.due:
            named += [*rule.remind, *(p for e in rule.escalate for p in e.to)]
        for word in named:
            if word in definition.roles or word in people_columns or (word in (OWNER, DEPARTMENT_HEAD) and reg.owner):
                continue
            raise DefinitionError(f"{reg.name}: {word!r} is not a role, owner, department_head or employees column")
        for role, presets in reg.rows.items():
            if role not in definition.roles:
                raise DefinitionError(f"{reg.name}.rows: unknown role {role!r}")
            for preset in presets:
                if preset not in (OWN, DEPARTMENT) and preset not in people_columns:
                    raise DefinitionError(f"{reg.name}.rows.{role}: {preset!r} is not own, department or an employees column")
                if preset in (OWN, DEPARTMENT) and not reg.owner:
                    raise DefinitionError(f"{reg.name}.rows.{role}: {preset} needs the register's owner:")


def _chart(spec: dict, registers: dict[str, Register]) -> Chart:
    where = f"dashboard: {spec.get('title')!r}"
    measures = [m for m in ("sum", "avg") if m in spec]
    chart = Chart(title=spec["title"], en=spec.get("en") or spec["title"], register=spec["register"], by=spec["by"],
                  every=spec.get("every"), measure=measures[0] if measures else "count",
                  of=spec[measures[0]] if measures else None, split=spec.get("split"), last=spec.get("last"),
                  kind=spec.get("kind", "bar"))
    reg = registers.get(chart.register)
    if reg is None:
        raise DefinitionError(f"{where}: unknown register {chart.register!r}")
    columns = reg.columns
    if chart.by not in columns:
        raise DefinitionError(f"{where}: {chart.register} has no column {chart.by!r}")
    dated = columns[chart.by].type in ("date", "datetime")
    if dated != (chart.every is not None) or (chart.every and chart.every not in BUCKETS):
        raise DefinitionError(f"{where}: every: ({'/'.join(BUCKETS)}) is needed exactly for a date or datetime column")
    if len(measures) > 1 or (chart.of and (chart.of not in columns or columns[chart.of].type not in ("int", "real"))):
        raise DefinitionError(f"{where}: sum: or avg: names one number column")
    if chart.split and (chart.split not in columns or columns[chart.split].type not in ("enum", "bool")):
        raise DefinitionError(f"{where}: split: names an enum column")
    if chart.kind not in CHART_KINDS:
        raise DefinitionError(f"{where}: kind: is one of {', '.join(CHART_KINDS)}")
    return chart


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
        charts=tuple(_chart(spec, registers) for spec in data.get("dashboard") or ()),
    )
    for role in definition.roles:
        for action in ACTIONS:
            definition.grants(role, action)  # raises on unknown names
    _check_people(definition)
    return definition


@functools.cache
def load(path: pathlib.Path = DEFINITION_PATH) -> Definition:
    return parse(yaml.safe_load(path.read_text(encoding="utf-8")))
