"""Who a login is in the registers: its employee, and the roles that follow from the data rather
than being given by hand — department_head for a login whose employee is some department's
manager_id (db/registers.yml marks such roles `derived`)."""

from __future__ import annotations

import sqlite3

DEPARTMENT_HEAD = "department_head"

HEADS_SQL = """
select 1 from departments d join employees e on e.id = d.manager_id
where e.employee_no = ? and coalesce(e.status, '在职') <> '离职' limit 1
"""


def derived_roles(conn: sqlite3.Connection, employee_no: str | None) -> list[str]:
    """The derived roles of a login's employee (on an ops.db connection)."""
    if not employee_no:
        return []
    return [DEPARTMENT_HEAD] if conn.execute(HEADS_SQL, [employee_no]).fetchone() else []


def with_derived_roles(conn: sqlite3.Connection, actor: dict) -> dict:
    """The actor with its derived roles added after its own (its own stays roles[0])."""
    extra = [r for r in derived_roles(conn, actor.get("employee_no")) if r not in actor.get("roles", [])]
    return {**actor, "roles": [*actor.get("roles", []), *extra]} if extra else actor
