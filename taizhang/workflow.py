"""The processes of db/registers.yml (`workflow`, `on_transition`, `rollup`) as triggers, so every
write path — the JSON API, forms, the grid, imports, /-/execute-write, a sqlite3 shell — meets them.

The writer is read from `_audit_context` (taizhang/audit.py): `employee_id`, the writer's
employees.id, and `roles`, ',a,b,' with derived roles included. No context row means a write from
outside the app; such a write may not insert into a workflow register, change a state or edit one.

Who may act is SQL over the row and the writer: in the triggers `OLD` for an update, the row as
it was (whose row it is decides, not whose it is about to become), `NEW` for an insert; a
transition's `when` condition (bare column names) is judged on `r`, the row as written, the only
table in its scope. `available()` runs the same SQL for a reader with `r`, the row as it is, for
both, so the rules have one copy.

Each refusal is a literal sentence (RAISE takes no expression before SQLite 3.47) with a kind;
`refusals()` lists them so the app tells them apart without matching text. Trigger bodies may
hold no CTE (SQLite 3.40): nested subqueries only.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from taizhang import audit, characters
from taizhang.people import head_of_sql, holds_role_sql, roles_text
from taizhang.audit_guard import CONTEXT, LOG
from taizhang.registers import (
    DEPARTMENT_HEAD,
    OWNER,
    SYSTEM_COLUMNS,
    Definition,
    Register,
    Transition,
    load,
    normalise_token,
)
from taizhang.schema import (
    TRIGGER_PREFIX,
    canonical_sql,
    chars_sql,
    derive_expression,
    derive_kind,
    literal,
    needs_key_normalising,
    quote,
)

KINDS = ("transition", "not_allowed", "condition", "comment", "frozen", "create", "no_context")
NEW_ROW = "新增"  # the action a timeline names for the row's creation


@dataclass(frozen=True)
class Raise:
    """One refusal of a generated trigger: raised when `condition` holds."""

    kind: str
    message: str
    condition: str


@dataclass(frozen=True)
class Writer:
    """SQL for the writer's employees.id and roles (',a,b,')."""

    employee: str
    roles: str


IN_TRIGGER = Writer(f"(SELECT employee_id FROM {CONTEXT})", f"(SELECT roles FROM {CONTEXT})")
READER = Writer(":employee_id", ":roles")
# A column read (not EXISTS, not the rowid): core's analysis of /-/execute-write SQL cannot place a bare row read.
NO_CONTEXT = f"(SELECT source FROM {CONTEXT}) IS NULL"   # source is NOT NULL
# What a transition's `sets:` word fills a blank column with (taizhang/registers.py SETS_VALUES).
SETS_SQL = {"today": f"(SELECT local_date FROM {CONTEXT})", "now": f"(SELECT local_time FROM {CONTEXT})",
            "writer": IN_TRIGGER.employee}
NOTE_BLANK = f"trim(coalesce((SELECT note FROM {CONTEXT}), ''), {chars_sql(characters.BLANK)}) = ''"
STATE_FROM, STATE_TO = "tz_from", "tz_to"


# -- people -----------------------------------------------------------------------------------
def _employee_columns(reg: Register) -> set[str]:
    return {c.name for c in reg.foreign_keys if c.references == "employees"}


def person_sql(reg: Register, word: str, row: str, writer: Writer) -> str:
    """1 when the writer is `word` for the row (alias `row`), else 0 (never NULL, so NOT works)."""
    if word == OWNER:
        return f"coalesce({row}.{quote(reg.owner)} = {writer.employee}, 0)"
    if word == DEPARTMENT_HEAD:
        return f"coalesce({writer.employee} = {head_of_sql(f'{row}.{quote(reg.owner)}')}, 0)"
    if word in _employee_columns(reg):
        return f"coalesce({row}.{quote(word)} = {writer.employee}, 0)"
    return holds_role_sql(writer.roles, word)


def people_sql(reg: Register, words, row: str, writer: Writer) -> str:
    return "(" + " OR ".join(person_sql(reg, w, row, writer) for w in words) + ")" if words else "0"


def when_sql(t: Transition) -> str:
    """The transition's condition over the written row `r` (bare names), never NULL."""
    return f"coalesce(({t.when.sql}), 0)" if t.when else "1"


def allowed_sql(reg: Register, t: Transition, writer: Writer, before: str = "OLD") -> str:
    return f"({people_sql(reg, t.by, before, writer)} AND {when_sql(t)})"


def people_label(reg: Register, words, definition: Definition) -> str:
    """申请人本人、人事或管理员."""
    owner = reg.columns[reg.owner].label if reg.owner else ""
    names = []
    for w in words:
        if w == OWNER:
            names.append(f"{owner}本人")
        elif w == DEPARTMENT_HEAD:
            names.append(f"{owner}的部门负责人")
        elif w in _employee_columns(reg):
            names.append(reg.columns[w].label)
        else:
            names.append(definition.roles.get(w, {}).get("label", w))
    names = list(dict.fromkeys(names))
    return names[0] if len(names) == 1 else "、".join(names[:-1]) + "或" + names[-1]


# -- the rules as refusals --------------------------------------------------------------------
def _quoted(state) -> str:
    return f"「{state}」" if state is not None else "空"


def _pairs(reg: Register) -> dict[tuple, list[Transition]]:
    """(from, to) -> the transitions between them; a row without a state (just inserted, the AFTER
    INSERT trigger filling it in) may take an initial state by those who may create rows."""
    flow = reg.workflow
    pairs: dict[tuple, list[Transition]] = {}
    for state in flow.initial:
        pairs.setdefault((None, state), []).append(
            Transition(action=NEW_ROW, source=None, target=state, by=flow.create_by))
    for t in flow.transitions:
        pairs.setdefault((t.source, t.target), []).append(t)
    return pairs


def _state_values(reg: Register) -> list[str]:
    return list(reg.columns[reg.workflow.column].values)


def _next_steps(reg: Register, state) -> str:
    leaving = [t for (source, _), ts in _pairs(reg).items() if source == state for t in ts]
    if not leaving:
        return f"{_quoted(state)}的{reg.label}已办结，状态不能再改变"
    if state is None:
        initial = "或".join(f"「{s}」" for s in reg.workflow.initial)
        return f"没有{reg.columns[reg.workflow.column].label}的{reg.label}只能先改为{initial}"
    steps = list(dict.fromkeys(f"{t.action}（改为「{t.target}」）" for t in leaving))
    return f"{_quoted(state)}只能{'、'.join(steps)}"


def state_change_raises(reg: Register, definition: Definition) -> list[Raise]:
    """The BEFORE UPDATE rules of a state change, in the order they are judged; conditions over
    the change (tz_from → tz_to), the row before (OLD) and as written (`r`)."""
    column = reg.columns[reg.workflow.column]
    pairs = _pairs(reg)
    raises = [Raise("no_context", f"不能直接修改{reg.label}的{column.label}：审批和办理只能在台账系统中进行，请登录后操作",
                    NO_CONTEXT)]
    states = [*_state_values(reg), None]
    for source in states:
        for target in states:
            if source == target or (source, target) in pairs:
                continue
            raises.append(Raise("transition", f"不能把{reg.label}从{_quoted(source)}改为{_quoted(target)}：{_next_steps(reg, source)}",
                                f"{STATE_FROM} IS {literal(source)} AND {STATE_TO} IS {literal(target)}"))
    for (source, target), ts in pairs.items():
        pair = f"{STATE_FROM} IS {literal(source)} AND {STATE_TO} IS {literal(target)}"
        change = f"不能把{reg.label}从{_quoted(source)}改为{_quoted(target)}"
        actions = "/".join(dict.fromkeys(t.action for t in ts))
        who = people_label(reg, [p for t in ts for p in t.by], definition)
        anyone = " OR ".join(people_sql(reg, t.by, "OLD", IN_TRIGGER) for t in ts)
        raises.append(Raise("not_allowed", f"{change}：「{actions}」只能由{who}办理", f"{pair} AND NOT ({anyone})"))
        allowed = " OR ".join(allowed_sql(reg, t, IN_TRIGGER) for t in ts)
        for t in ts:
            if t.when:
                raises.append(Raise("condition", f"{change}：「{t.action}」的条件是「{t.when.label}」，这条{reg.label}不满足",
                                    f"{pair} AND {people_sql(reg, t.by, 'OLD', IN_TRIGGER)} AND NOT {when_sql(t)}"
                                    f" AND NOT ({allowed})"))
        if any(t.comment for t in ts):
            without = " OR ".join(allowed_sql(reg, t, IN_TRIGGER) for t in ts if not t.comment) or "0"
            raises.append(Raise("comment", f"{change}：「{actions}」需要填写说明（原因），请填写后再办理",
                                f"{pair} AND NOT ({without}) AND {NOTE_BLANK}"))
    return raises


def _sets_value_sql(value) -> str:
    return SETS_SQL[value] if isinstance(value, str) and value in SETS_SQL else literal(value)


def _filled(reg: Register) -> dict[str, list[Transition]]:
    """column -> the transitions that fill it when blank."""
    filled: dict[str, list[Transition]] = {}
    for t in reg.workflow.transitions:
        for column, _ in t.sets:
            filled.setdefault(column, []).append(t)
    return filled


def edited_sql(reg: Register) -> str:
    """Whether an update changes the row's content, not just its state or the system columns.
    The AFTER triggers' own UPDATEs (updated_at, synonyms made canonical, keys normalised, derived
    columns) fire the BEFORE UPDATE triggers again; they change a value to what it already meant
    or what its rule makes it, so they are no edit: an enum compared by canonical value, a key whose
    old value was never stored normalised, a derived column set to its rule's value (a default
    only where it was blank), and a blank column a transition fills: given by the writer with the
    transition, or by the transition's trigger once the row is in the state it reached."""
    state = reg.columns[reg.workflow.column]
    before, after = (canonical_sql(state, f"{row}.{quote(state.name)}") for row in ("OLD", "NEW"))
    filled = _filled(reg)
    changes = []
    for col in reg.columns.values():
        if col.name in (reg.workflow.column, *SYSTEM_COLUMNS):
            continue
        old, new = f"OLD.{quote(col.name)}", f"NEW.{quote(col.name)}"
        if col.type in ("enum", "bool"):
            change = f"{canonical_sql(col, old)} IS NOT {canonical_sql(col, new)}"
        elif col.key:
            change = f"({old} IS NOT {new} AND NOT ({needs_key_normalising(old)}))"
        else:
            change = f"{old} IS NOT {new}"
        if rule := reg.derive.get(col.name):
            derived = f"{new} IS (SELECT {derive_expression(rule)} FROM {_row_source(reg, 'NEW')})"
            if derive_kind(rule) == "default":
                derived += f" AND {old} IS NULL"
            change = f"({change} AND NOT ({derived}))"
        if fills := filled.get(col.name):
            by_transition = " OR ".join(
                f"({before} IS {literal(t.source)} AND {after} IS {literal(t.target)})"
                f" OR ({before} IS {literal(t.target)} AND {new} IS {_sets_value_sql(dict(t.sets)[col.name])})"
                for t in fills)
            change = f"({change} AND NOT ({old} IS NULL AND ({by_transition})))"
        changes.append(change)
    return " OR ".join(changes) or "0"


def edit_raises(reg: Register, definition: Definition) -> list[Raise]:
    flow = reg.workflow
    raises = [Raise("no_context", f"不能直接修改{reg.label}：流程台账只能在台账系统中修改，请登录后操作", NO_CONTEXT)]
    editable = "、".join(f"「{s}」" for s in flow.edit_states)
    for state in _state_values(reg):
        if state in flow.edit_states:
            continue
        back = [t for t in flow.leaving(state) if t.target in flow.edit_states]
        advice = (f"需要修改请先{back[0].action}（改为「{back[0].target}」）" if back
                  else f"只有{editable}的{reg.label}可以修改" if editable else f"{reg.label}不能修改")
        raises.append(Raise("frozen", f"{_quoted(state)}的{reg.label}不能修改；{advice}", f"{STATE_FROM} IS {literal(state)}"))
    raises.append(Raise("not_allowed", f"不能修改这条{reg.label}：只能由{people_label(reg, flow.edit_by, definition)}修改",
                        f"NOT {people_sql(reg, flow.edit_by, 'OLD', IN_TRIGGER)}"))
    for column, people in flow.edit_columns:
        c = quote(column)
        raises.append(Raise("not_allowed", f"不能修改{reg.label}的{reg.columns[column].label}：只能由"
                                           f"{people_label(reg, people, definition)}填写",
                            f"OLD.{c} IS NOT NEW.{c} AND NOT {people_sql(reg, people, 'OLD', IN_TRIGGER)}"))
    return raises


def insert_raises(reg: Register, definition: Definition) -> list[Raise]:
    flow, column = reg.workflow, reg.columns[reg.workflow.column]
    initial = "或".join(f"「{s}」" for s in flow.initial)
    raises = [Raise("no_context", f"不能直接新增{reg.label}：流程台账只能在台账系统中填写（表单、接口或导入），请登录后操作",
                    NO_CONTEXT)]
    for state in _state_values(reg):
        if state not in flow.initial:
            raises.append(Raise("create", f"新增{reg.label}时{column.label}只能是{initial}（留空即为「{flow.initial[0]}」），"
                                          f"不能是「{state}」", f"{STATE_TO} IS {literal(state)}"))
    raises.append(Raise("create", f"不能新增{reg.label}：只能由{people_label(reg, flow.create_by, definition)}新增",
                        f"NOT {people_sql(reg, flow.create_by, 'NEW', IN_TRIGGER)}"))
    return raises


def refusals(reg: Register, definition: Definition | None = None) -> dict[str, str]:
    """Every sentence the register's workflow triggers raise -> its kind (KINDS)."""
    if not reg.workflow:
        return {}
    definition = definition or load()
    return {r.message: r.kind for make in (insert_raises, state_change_raises, edit_raises)
            for r in make(reg, definition)}


# -- triggers ---------------------------------------------------------------------------------
def _row_source(reg: Register, alias: str) -> str:
    """The trigger's OLD or NEW row as a one-row table, so conditions read it by column name."""
    columns = ["id", *reg.columns, "created_at", "updated_at"]
    return "(SELECT " + ", ".join(f"{alias}.{quote(c)} AS {quote(c)}" for c in columns) + ")"


def _body(reg: Register, raises: list[Raise], before: bool) -> str:
    col = reg.columns[reg.workflow.column]
    state = quote(col.name)
    change = (f"(SELECT {canonical_sql(col, 'OLD.' + state) if before else 'NULL'} AS {STATE_FROM},"
              f" {canonical_sql(col, 'NEW.' + state)} AS {STATE_TO})")
    sources = f"{change} AS s, {_row_source(reg, 'NEW')} AS r"
    # One statement, the first refusal that holds: the canonical states are worked out once.
    cases = " ".join(f"WHEN {r.condition} THEN RAISE(ABORT, {literal(r.message)})" for r in raises)
    return f"SELECT CASE {cases} END FROM {sources};"


def _workflow_triggers(reg: Register, definition: Definition) -> dict[str, str]:
    flow = reg.workflow
    col = reg.columns[flow.column]
    t, state = quote(reg.name), quote(flow.column)
    name = f"{TRIGGER_PREFIX}{reg.name}_workflow"
    return {
        # AFTER, not BEFORE: core's upsert (INSERT … ON CONFLICT DO UPDATE, or OR IGNORE) fires the
        # BEFORE INSERT triggers for a row that exists and is then updated — judged as an update
        # by the state and edit triggers. Only a row actually inserted (a REPLACE's too) is new.
        # Then a row written without a state starts in the first initial one (a form may leave it
        # blank), in the same trigger so that the rules are judged first.
        f"{name}_insert": (f"CREATE TRIGGER {quote(name + '_insert')} AFTER INSERT ON {t} FOR EACH ROW BEGIN "
                           f"{_body(reg, insert_raises(reg, definition), before=False)}"
                           f" UPDATE {t} SET {state} = {literal(flow.initial[0])} WHERE id = NEW.id AND {state} IS NULL; END"),
        f"{name}_state": (f"CREATE TRIGGER {quote(name + '_state')} BEFORE UPDATE ON {t} FOR EACH ROW"
                          f" WHEN {canonical_sql(col, 'OLD.' + state)} IS NOT {canonical_sql(col, 'NEW.' + state)} BEGIN "
                          f"{_body(reg, state_change_raises(reg, definition), before=True)} END"),
        f"{name}_edit": (f"CREATE TRIGGER {quote(name + '_edit')} BEFORE UPDATE ON {t} FOR EACH ROW"
                         f" WHEN {edited_sql(reg)} BEGIN {_body(reg, edit_raises(reg, definition), before=True)} END"),
    }


def _sets_trigger(reg: Register) -> dict[str, str]:
    """A transition fills the columns its `sets:` names that are still blank once it is taken (a
    value the writer gives with the transition stands). Its UPDATE is audited like any other."""
    col = reg.columns[reg.workflow.column]
    t, state = quote(reg.name), quote(col.name)
    old, new = canonical_sql(col, f"OLD.{state}"), canonical_sql(col, f"NEW.{state}")
    updates = []
    for tr in reg.workflow.transitions:
        for column, value in tr.sets:
            c = quote(column)
            updates.append(f"UPDATE {t} SET {c} = {_sets_value_sql(value)} WHERE id = NEW.id AND {c} IS NULL"
                           f" AND {old} IS {literal(tr.source)} AND {new} IS {literal(tr.target)};")
    if not updates:
        return {}
    name = f"{TRIGGER_PREFIX}{reg.name}_workflow_sets"
    return {name: (f"CREATE TRIGGER {quote(name)} AFTER UPDATE OF {state} ON {t} FOR EACH ROW"
                   f" WHEN {old} IS NOT {new} BEGIN {' '.join(updates)} END")}


def _on_transition_triggers(reg: Register) -> dict[str, str]:
    """A state reached sets a column of the row another register's row (via a reference)."""
    col = reg.columns[reg.workflow.column] if reg.workflow else None
    triggers = {}
    for i, rule in enumerate(reg.on_transition):
        target, sets = rule["to"], rule["set"]
        name = f"{TRIGGER_PREFIX}{reg.name}_on_transition_{i}"
        into, column, value = quote(sets["register"]), quote(sets["column"]), literal(sets["value"])
        triggers[name] = (
            f"CREATE TRIGGER {quote(name)} AFTER UPDATE OF {quote(col.name)} ON {quote(reg.name)} FOR EACH ROW"
            f" WHEN {canonical_sql(col, 'NEW.' + quote(col.name))} IS {literal(target)}"
            f" AND {canonical_sql(col, 'OLD.' + quote(col.name))} IS NOT {literal(target)}"
            f" BEGIN UPDATE {into} SET {column} = {value} WHERE id = NEW.{quote(sets['via'])} AND {column} IS NOT {value}; END"
        )
    return triggers


def _rollup_sets(reg: Register, rule: dict, row: str) -> dict[str, str]:
    """parent column -> SQL of its value from the children of `row`'s parent: the max of one
    column (`max:`), or the columns of the newest child by `latest:` among those `where:` holds."""
    t, via = quote(reg.name), quote(rule["via"])
    if "max" in rule:
        return {rule["column"]: f"(SELECT max(c.{quote(rule['max'])}) FROM {t} c WHERE c.{via} = {row}.{via})"}
    where = f" AND ({rule['where']})" if rule.get("where") else ""
    newest = (f"(SELECT c.id FROM {t} c WHERE c.{via} = {row}.{via}{where}"
              f" ORDER BY c.{quote(rule['latest'])} DESC, c.id DESC LIMIT 1)")
    return {parent: f"(SELECT n.{quote(child)} FROM {t} n WHERE n.id = {newest})" for parent, child in rule["set"].items()}


def _rollup_triggers(reg: Register) -> dict[str, str]:
    """A parent's columns kept from its children's: the newest visit (customers.last_visit_on),
    the current agreement (partners.agreement_no …)."""
    triggers = {}
    t = quote(reg.name)
    for i, rule in enumerate(reg.rollup):
        into = quote(rule["into"])
        name = f"{TRIGGER_PREFIX}{reg.name}_rollup_{i}"

        def refresh(row: str, rule=rule) -> str:
            sets = _rollup_sets(reg, rule, row)
            assign = ", ".join(f"{quote(c)} = {value}" for c, value in sets.items())
            changed = " OR ".join(f"{quote(c)} IS NOT {value}" for c, value in sets.items())
            return f"UPDATE {into} SET {assign} WHERE id = {row}.{quote(rule['via'])} AND ({changed});"

        # `max:` reads two columns; the newest child's columns and its `where:` may read any.
        of = f" OF {quote(rule['via'])}, {quote(rule['max'])}" if "max" in rule else ""
        triggers[f"{name}_insert"] = f"CREATE TRIGGER {quote(name + '_insert')} AFTER INSERT ON {t} BEGIN {refresh('NEW')} END"
        triggers[f"{name}_update"] = (f"CREATE TRIGGER {quote(name + '_update')} AFTER UPDATE{of} ON {t}"
                                      f" BEGIN {refresh('NEW')} {refresh('OLD')} END")
        triggers[f"{name}_delete"] = f"CREATE TRIGGER {quote(name + '_delete')} AFTER DELETE ON {t} BEGIN {refresh('OLD')} END"
    return triggers


def triggers_sql(reg: Register, definition: Definition | None = None) -> dict[str, str]:
    """name -> CREATE TRIGGER for the register's process (part of schema.triggers_sql)."""
    triggers = {}
    if reg.workflow:
        triggers.update(_workflow_triggers(reg, definition or load()))
        triggers.update(_sets_trigger(reg))
    triggers.update(_on_transition_triggers(reg))
    triggers.update(_rollup_triggers(reg))
    return triggers


# -- for readers ------------------------------------------------------------------------------
def writer_params(conn: sqlite3.Connection, who: audit.Who) -> dict:
    """The writer as the context holds it: employees.id (resolved as audit.begin does) and roles."""
    return {"employee_id": audit.employee_id(conn, who.employee_no), "roles": roles_text(who.all_roles)}


def available(conn: sqlite3.Connection, reg: Register, row_id: int, who: audit.Who) -> list:
    """The transitions from the row's current state whose `by` and `when` hold for `who`
    (a comment, where one is required, is asked for when acting)."""
    if not reg.workflow:
        return []
    column = reg.columns[reg.workflow.column]
    row = conn.execute(f"SELECT {quote(column.name)} FROM {quote(reg.name)} WHERE id = ?", [row_id]).fetchone()
    if row is None:
        return []
    leaving = reg.workflow.leaving(row[0])
    if not leaving:
        return []
    # The same SQL as the triggers', with the row as it is standing for both before and after.
    tests = ", ".join(allowed_sql(reg, t, READER, before="r") for t in leaving)
    held = conn.execute(f"SELECT {tests} FROM (SELECT * FROM {quote(reg.name)} WHERE id = :row_id) AS r",
                        {**writer_params(conn, who), "row_id": row_id}).fetchone()
    return [t for t, ok in zip(leaving, held) if ok]


def _canonical(reg: Register, value):
    if value is None:
        return None
    return reg.columns[reg.workflow.column].synonyms().get(normalise_token(value), value)


def timeline(conn: sqlite3.Connection, reg: Register, row_id: int) -> list[dict]:
    """The row's state changes from the audit log, oldest first, its creation included:
    {at, actor, role, from, to, action, comment}."""
    if not reg.workflow:
        return []
    column = reg.workflow.column
    rows = conn.execute(
        f"SELECT at, actor, role, note, operation, before, after FROM {LOG}"
        " WHERE table_name = ? AND row_id = ? AND operation IN ('insert', 'update') ORDER BY id",
        [reg.name, row_id]).fetchall()
    actions = {(t.source, t.target): t.action for t in reg.workflow.transitions}
    out: list[dict] = []
    for at, actor, role, note, operation, before, after in rows:
        old = _canonical(reg, json.loads(before).get(column)) if before else None
        new = _canonical(reg, json.loads(after).get(column)) if after else None
        if operation == "insert":
            out.append({"at": at, "actor": actor, "role": role, "from": None, "to": new, "action": NEW_ROW,
                        "comment": note})
        elif old != new:
            if old is None and out and out[-1]["action"] == NEW_ROW and out[-1]["to"] is None:
                out[-1]["to"] = new   # the state the AFTER INSERT trigger gave a row written without one
                continue
            out.append({"at": at, "actor": actor, "role": role, "from": old, "to": new,
                        "action": actions.get((old, new)), "comment": note})
    return out
