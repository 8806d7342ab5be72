"""Who a login is in the registers: its employee, and the roles that follow from the data rather
than being given by hand — `employee` (self-service: one's own applications, tasks and reports)
for every login linked to an employee in post, whatever its own role, and `department_head` for a
login whose employee is some department's manager_id (db/registers.yml marks that one `derived`:
it is never given by hand; `employee` may also be a login's only role)."""

from __future__ import annotations

import sqlite3

from taizhang.schema import literal

EMPLOYEE = "employee"
DEPARTMENT_HEAD = "department_head"

PEOPLE_SQL = """
select e.id, exists (select 1 from departments d where d.manager_id = e.id) as heads
from employees e where e.employee_no = ? and coalesce(e.status, '在职') <> '离职'
"""


# -- the same rules in SQL: the audit context, the triggers, row access and reminders ----------
def roles_text(roles) -> str | None:
    """Roles as the audit context and the reminders' queries hold them, ',a,b,' (None for none)."""
    return "," + ",".join(roles) + "," if roles else None


def holds_role_sql(roles: str, role: str) -> str:
    """SQL: whether `roles` (SQL giving roles_text() or NULL) includes `role`; never NULL, so NOT works."""
    return f"(coalesce(instr({roles}, {literal(',' + role + ',')}), 0) > 0)"


def head_of_sql(person: str) -> str:
    """SQL: the department head of `person` (SQL giving an employees.id) — the head of their
    department, or of its parent when they head it themself."""
    return ("(SELECT CASE WHEN d.manager_id = e.id"
            " THEN (SELECT p.manager_id FROM departments p WHERE p.id = d.parent_id) ELSE d.manager_id END"
            f" FROM employees e JOIN departments d ON d.id = e.department_id WHERE e.id = {person})")


def headed_by_sql(head: str) -> str:
    """SQL: the employees whose department head (as head_of_sql() says it) is `head` — the same
    rule the other way round, a set the people columns' indexes can find."""
    return ("SELECT o.id FROM employees o JOIN departments d ON d.id = o.department_id"
            " LEFT JOIN departments p ON p.id = d.parent_id"
            f" WHERE CASE WHEN d.manager_id IS o.id THEN p.manager_id ELSE d.manager_id END = {head}")


def derived_roles(conn: sqlite3.Connection, employee_no: str | None) -> list[str]:
    """The roles a login's employee has from the registers (on an ops.db connection)."""
    if not employee_no:
        return []
    found = conn.execute(PEOPLE_SQL, [employee_no]).fetchone()
    if found is None:
        return []
    return [EMPLOYEE, *([DEPARTMENT_HEAD] if found[1] else [])]


def with_derived_roles(conn: sqlite3.Connection, actor: dict) -> dict:
    """The actor with its derived roles added after its own (its own stays roles[0])."""
    extra = [r for r in derived_roles(conn, actor.get("employee_no")) if r not in actor.get("roles", [])]
    return {**actor, "roles": [*actor.get("roles", []), *extra]} if extra else actor
