"""Who a login is in the registers: its employee, and the roles that follow from the data rather
than being given by hand — `employee` (self-service: one's own applications, tasks and reports)
for every login linked to an employee in post, whatever its own role, and `department_head` for a
login whose employee is some department's manager_id (db/registers.yml marks that one `derived`:
it is never given by hand; `employee` may also be a login's only role)."""

from __future__ import annotations

import sqlite3

EMPLOYEE = "employee"
DEPARTMENT_HEAD = "department_head"

PEOPLE_SQL = """
select e.id, exists (select 1 from departments d where d.manager_id = e.id) as heads
from employees e where e.employee_no = ? and coalesce(e.status, '在职') <> '离职'
"""


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
