"""How our pages show rows and people: a reference as the referenced row's label (of a row the
reader may see), an audit time in the instance's time zone, a role by its Chinese label, a
login by its employee's name. Shared by the row page's linked records and timeline and the
printable documents."""

from __future__ import annotations

import datetime

from taizhang import clock
from taizhang.schema import quote
from taizhang.web import definition, rows_condition, user_store


async def reference_labels(datasette, actor, reg, rows: list[dict], columns: list[str]) -> None:
    """Replace reference ids in the shown columns by the referenced row's label, in place —
    of a row the reader may see (row-level access): others keep their id."""
    for column in columns:
        col = reg.columns[column]
        if col.type != "fk":
            continue
        target = definition().registers[col.references]
        ids = sorted({r[column] for r in rows if r[column] is not None})
        if not ids:
            continue
        visible = rows_condition(actor, target.name)
        result = await datasette.get_database(target.database).execute(
            f"select id, {quote(target.label_column)} from {quote(target.name)} where id in ({', '.join('?' * len(ids))})"
            + (f" and {visible}" if visible else ""), ids)
        names = {row[0]: row[1] for row in result.rows}
        for r in rows:
            r[column] = names.get(r[column], r[column])


def local_time(at: str | None) -> str:
    """A timeline time as people read it: the instance's local time, to the minute."""
    if not at:
        return ""
    try:
        moment = datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return at
    if moment.tzinfo is not None:
        moment = clock.now(moment)
    return moment.strftime("%Y-%m-%d %H:%M")


def role_label(role: str | None) -> str:
    spec = definition().roles.get(role or "")
    return spec["label"] if spec else (role or "")


async def login_names(datasette, logins: set[str]) -> dict[str, str]:
    """Login -> the name of its employee, so the timeline says 李娜 rather than only a login."""
    store = user_store(datasette)
    numbers = {}
    for login in logins:
        user = store.get(login)
        if user is not None and user.employee_no:
            numbers[login] = user.employee_no
    if not numbers:
        return {}
    employees = definition().registers["employees"]
    result = await datasette.get_database(employees.database).execute(
        f"SELECT employee_no, name FROM employees WHERE employee_no IN ({', '.join('?' * len(numbers))})",
        sorted(set(numbers.values())))
    name_of = {row[0]: row[1] for row in result.rows}
    return {login: name_of[no] for login, no in numbers.items() if no in name_of}
