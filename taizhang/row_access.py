"""Row-level access: which rows of a register a login may read and write, as SQL generated from
the definition (a register's `owner:` and `rows:`, see db/registers.yml and docs/row-access.md).

One condition, built by `condition()`, serves every reader — core's table pages (through the
filters_from_request hook), row pages and the JSON API (plugins/row_access.py), our pages
(history, linked records, pickers, forms, home, grid) — and the write triggers, which build the
same condition over NEW/OLD with the writer's employee from `_audit_context`. The login's
employee is `me`: a SQL expression for employees.id (a scalar subquery on the 工号 for reads,
the audit context's employee_id for writes), so no caller has to look it up first.

The department tree is a recursive CTE inside a subquery (SQLite allows WITH there): the
departments the login heads (departments.manager_id) and every department below them
(parent_id), whose employees own the rows.
"""

from __future__ import annotations

from itertools import combinations

from taizhang.audit_guard import CONTEXT, LOG
from taizhang.people import holds_role_sql
from taizhang.registers import DEPARTMENT, OWN, Definition, Register
from taizhang.schema import TRIGGER_PREFIX, literal, quote

NONE = "0"   # the condition for "no rows at all"


def me_by_employee_no(employee_no: str | None) -> str:
    """`me` for a reader: the employees.id of the login's 工号 (NULL without one, so `own`
    matches nothing)."""
    return f"(SELECT id FROM employees WHERE employee_no = {literal(employee_no)})"


ME_WRITING = f"(SELECT employee_id FROM {CONTEXT})"


def departments_headed(me: str) -> str:
    """SELECT of the departments `me` heads and every department below them."""
    return (f"WITH RECURSIVE tz_headed(id) AS (SELECT id FROM departments WHERE manager_id = {me}"
            f" UNION SELECT d.id FROM departments d JOIN tz_headed h ON d.parent_id = h.id)"
            f" SELECT id FROM tz_headed")


def preset_sql(reg: Register, preset: str, me: str, alias: str = "") -> str:
    """One preset (own, department, an employees column) as a condition on a row of `reg`;
    `alias` is how the row is named ('NEW.', 't.', '' for bare columns)."""
    if preset == OWN:
        return f"{alias}{quote(reg.owner)} = {me}"
    if preset == DEPARTMENT:
        return (f"{alias}{quote(reg.owner)} IN (SELECT e.id FROM employees e"
                f" WHERE e.department_id IN ({departments_headed(me)}))")
    return f"{alias}{quote(preset)} = {me}"


def presets_sql(reg: Register, presets, me: str, alias: str = "") -> str:
    if not presets:
        return NONE
    return "(" + " OR ".join(preset_sql(reg, p, me, alias) for p in presets) + ")"


def condition(definition: Definition, register: str, roles, employee_no: str | None,
              alias: str = "") -> str | None:
    """The rows of `register` a login with these roles reads, as a SQL condition over the row:
    None when it reads every row (some role of theirs reads it unnarrowed, or the register has
    no rows:), NONE when it reads none."""
    reg = definition.registers.get(register)
    if reg is None or not reg.rows:
        return None
    presets = definition.row_scope(roles, register)
    if presets is None:
        return None
    return presets_sql(reg, presets, me_by_employee_no(employee_no), alias)


def for_actor(definition: Definition, register: str, actor: dict | None, alias: str = "") -> str | None:
    actor = actor or {}
    return condition(definition, register, actor.get("roles") or (), actor.get("employee_no"), alias)


def narrowed(definition: Definition, roles) -> set[str]:
    """The registers these roles read narrowed or not at all, among those with rows: — the
    ones their own SQL may not read (docs/row-access.md)."""
    return {name for name, reg in definition.registers.items() if reg.rows and definition.row_scope(roles, name) is not None}


def tables_denied_to_sql(definition: Definition, roles, database: str) -> set[str]:
    """Tables of one database file that SQL written by this login may not read: the narrowed
    registers, their search tables (FTS5 keeps the text in shadow tables, matched by prefix
    in `denies()`), and the audit log, which holds a copy of every row."""
    names = {n for n in narrowed(definition, roles) if definition.registers[n].database == database}
    if not names:
        return set()
    return {*names, *(f"{n}_fts" for n in names if definition.registers[n].search), LOG}


def denies(denied: set[str], table: str | None) -> bool:
    if not table:
        return False
    table = table.lower()
    return any(table == d.lower() or (d.endswith("_fts") and table.startswith(d.lower() + "_")) for d in denied)


def refused_sentence(definition: Definition, table: str) -> str:
    reg = definition.registers.get(table) or next(
        (r for r in definition.registers.values() if table.lower().startswith(f"{r.name}_fts")), None)
    what = f"{reg.label}（{reg.name}）" if reg else table
    return (f"没有用 SQL 读取{what}的权限：你只能查看其中与你相关的记录，请在台账页面上查看；"
            "需要统计全部记录请联系管理员")


# -- writes ----------------------------------------------------------------------------------
def unrestricted_roles(definition: Definition, reg: Register) -> list[str]:
    """Roles that read the register unnarrowed: a writer holding one writes any row."""
    return [r for r in definition.roles if r in definition.access and reg.name in definition.grants(r, "read")
            and r not in reg.rows]


def _holds(role: str) -> str:
    return holds_role_sql(f"(SELECT roles FROM {CONTEXT})", role)


def scope_words(definition: Definition, reg: Register, presets) -> str:
    """The presets in words: 申请人是你本人、申请人属于你负责的部门（含下级部门）."""
    owner = reg.columns[reg.owner].label if reg.owner else ""
    words = []
    for p in presets:
        if p == OWN:
            words.append(f"{owner}是你本人")
        elif p == DEPARTMENT:
            words.append(f"{owner}属于你负责的部门（含下级部门）")
        else:
            words.append(f"{reg.columns[p].label}是你本人")
    return "或".join(words) if words else "（无）"


def _refusals(definition: Definition, reg: Register, row: str, sentence: str) -> list[str]:
    """RAISE statements refusing a row outside the writer's scope, one per combination of the
    register's narrowed roles the writer may hold, so that the sentence names the writer's own
    scope ({scope} in `sentence`). Only run when the writer holds none of the unrestricted
    roles (the trigger's WHEN)."""
    narrowed_roles = list(reg.rows)
    statements = []
    for size in range(1, len(narrowed_roles) + 1):
        for held in combinations(narrowed_roles, size):
            presets = tuple(dict.fromkeys(p for r in held for p in reg.rows[r]))
            exact = " AND ".join([*(_holds(r) for r in held),
                                  *(f"NOT {_holds(r)}" for r in narrowed_roles if r not in held)])
            message = sentence.format(label=reg.label, scope=scope_words(definition, reg, presets),
                                      owner=reg.columns[reg.owner].label if reg.owner else "相关人员")
            statements.append(
                f"SELECT RAISE(ABORT, {literal(message)}) WHERE {exact}"
                f" AND NOT coalesce({presets_sql(reg, presets, ME_WRITING, row)}, 0);")
    return statements


def _no_reader(reg: Register) -> str:
    """A writer holding none of the roles that read the register at all: their scope is empty."""
    anyone = " OR ".join(_holds(r) for r in reg.rows)
    return f"SELECT RAISE(ABORT, {literal(f'没有写入{reg.label}的权限')}) WHERE NOT ({anyone});"


INSERTING = "{label}：你只能新增{scope}的记录，请检查{owner}"
UPDATING = "{label}：你只能修改{scope}的记录"
UPDATED = "{label}：修改后的记录须仍是{scope}的记录，请检查{owner}"
DELETING = "{label}：你只能删除{scope}的记录"


def triggers_sql(definition: Definition, reg: Register) -> dict[str, str]:
    """BEFORE triggers keeping a narrowed writer's writes inside their scope, before and after
    the change: an insert must land in it, an update must start and end in it, a delete must
    start in it. Writes without a login's roles in the audit context (the CLI without --actor,
    the app's own maintenance, a sqlite3 shell) are not narrowed: they are no login's. Names
    as schema.triggers_sql formats them ({name})."""
    if not reg.rows:
        return {}
    t = quote(reg.name)
    free = " OR ".join(_holds(r) for r in unrestricted_roles(definition, reg)) or "0"
    when = f"WHEN (SELECT roles FROM {CONTEXT}) IS NOT NULL AND NOT ({free})"
    # Whether a row is in a scope depends on its owner and preset columns only (the department
    # tree lives in other tables), so the row after an update is judged again only when one of
    # them changes: the nested updates of the app's own triggers (updated_at) skip that.
    scoped = ", ".join(quote(c) for c in dict.fromkeys(
        [reg.owner, *(p for presets in reg.rows.values() for p in presets if p not in (OWN, DEPARTMENT))]) if c)
    bodies = {
        "insert": ("INSERT", [_no_reader(reg), *_refusals(definition, reg, "NEW.", INSERTING)]),
        "update": ("UPDATE", [_no_reader(reg), *_refusals(definition, reg, "OLD.", UPDATING)]),
        "moved": (f"UPDATE OF {scoped}", _refusals(definition, reg, "NEW.", UPDATED)),
        "delete": ("DELETE", [_no_reader(reg), *_refusals(definition, reg, "OLD.", DELETING)]),
    }
    return {
        f"{TRIGGER_PREFIX}{reg.name}_rows_{name}": (
            f"CREATE TRIGGER {{name}} BEFORE {event} ON {t} FOR EACH ROW {when}\nBEGIN {' '.join(body)} END"
        )
        for name, (event, body) in bodies.items()
    }


def indexes_sql(reg: Register) -> list[str]:
    """The indexes a narrowed table page reads by. The scope's own lookups are by owner (an fk,
    indexed by schema.indexes_sql) and by the employees' department and the departments' manager
    and parent (fks too). What the page adds is its sort and its facets over the reader's rows:
    the owner with the sort column, so the rows come in order from the index, and the owner with
    each facet column, so a facet counts from the index alone instead of reading every row of
    the owners' (bench/bench_rows.py: a department head's facets took twice an admin's without)."""
    if not reg.rows or not reg.owner:
        return []
    wanted = [c for c in dict.fromkeys([reg.sort_desc or reg.sort, *reg.facets]) if c and c != reg.owner]
    # (a natural key starting with the owner and the column is that index already)
    wanted = [c for c in wanted if reg.natural_key[:2] != (reg.owner, c)]
    return [f"CREATE INDEX IF NOT EXISTS {quote(f'idx_{reg.name}_{reg.owner}_{c}')}"
            f" ON {quote(reg.name)} ({quote(reg.owner)}, {quote(c)})" for c in wanted]
