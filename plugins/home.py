"""The staff home page (replaces Datasette's index for people who are logged in): the registers
by area with their row counts and purpose, 我的待办 for the employee linked to the login, and a
quick search across every register the reader may read."""

import sqlite3
import urllib.parse

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.utils.asgi import Response

from taizhang import backup, chinese, clock, due, people
from taizhang import search as search_index
from taizhang.schema import fts_table, quote
from taizhang.web import data_dir, definition, may, may_query, rows_condition

SEARCH_LIMIT = 20
# 我的待办 lists at most this many items per register (the overdue report has them all).
TODO_LIMIT = 50


async def _readable(datasette, actor, reg) -> bool:
    return await may(datasette, actor, "view-table", reg.database, reg.name)


async def _rows(datasette, database: str, sql: str, params: dict) -> list[dict]:
    result = await datasette.get_database(database).execute(sql, params)
    return [dict(row) for row in result.rows]


async def _employee(datasette, actor, readable: set[str]) -> dict | None:
    employee_no = actor.get("employee_no")
    employees = definition().registers["employees"]
    if not employee_no or "employees" not in readable:
        return None
    found = await _rows(datasette, employees.database, "select id, name from employees where employee_no = :no",
                        {"no": employee_no})
    return found[0] if found else None


async def _my_todo(datasette, actor, readable: set[str]) -> dict:
    """我的待办, from the due rules of db/registers.yml (taizhang/due.py): per register the reader
    may read, the items they are to be reminded of, or escalated to, due soon or overdue."""
    employee = await _employee(datasette, actor, readable)
    params = {**due.params(), "employee_id": employee["id"] if employee else None,
              "roles": people.roles_text(actor.get("roles"))}
    groups = []
    for reg in due.registers_with_due(definition()):
        if reg.name not in readable:
            continue
        failed = False
        try:
            items = await _rows(datasette, reg.database, due.todo_sql(definition(), reg) + f" LIMIT {TODO_LIMIT + 1}", params)
        except (QueryInterrupted, sqlite3.Error):
            # One register too slow (or not upgraded yet) must not take the home page down.
            items, failed = [], True
        if items or failed:
            report = due.report_name(reg)
            groups.append({"reg": reg, "entries": items[:TODO_LIMIT], "more": len(items) > TODO_LIMIT, "failed": failed,
                           "report_url": datasette.urls.path(f"/{reg.database}/{report}")
                           if await may_query(datasette, actor, reg.database, report) else None})
    return {"employee": employee, "groups": groups}


def _backup_warning(datasette, actor) -> str | None:
    """For admins, when the last successful `taizhang backup` is more than a day old or there
    never was one: what the warning says about it (the template holds the rest)."""
    if "admin" not in (actor.get("roles") or []):
        return None
    last = backup.last_backup(data_dir(datasette))
    if not backup.backup_is_stale(last):
        return None
    return f"上次备份：{clock.now(last['at']):%Y-%m-%d %H:%M}" if last else "从未备份"


async def home(request, datasette):
    actor = request.actor
    if not actor or not actor.get("roles"):
        return Response.redirect(datasette.urls.path("/-/login?next=/"))
    regs = definition().registers
    readable = {name for name, reg in regs.items() if await _readable(datasette, actor, reg)}
    areas = []
    for area, names in definition().areas.items():
        entries = []
        for name in names:
            if name in readable:
                reg = regs[name]
                visible = rows_condition(actor, name)   # a narrowed register: the reader's rows
                count = (await datasette.get_database(reg.database).execute(
                    f"select count(*) from {quote(name)}" + (f" where {visible}" if visible else ""))).first()[0]
                entries.append({"reg": reg, "count": count, "url": datasette.urls.table(reg.database, name)})
        if entries:
            areas.append((area, entries))
    return Response.html(await datasette.render_template(
        "home.html",
        {"areas": areas, "todo": await _my_todo(datasette, actor, readable),
         "backup_warning": _backup_warning(datasette, actor)},
        request=request,
    ))


async def search(request, datasette):
    actor = request.actor
    if not actor or not actor.get("roles"):
        return Response.redirect(datasette.urls.path("/-/login?next=/-/search"))
    query = (request.args.get("q") or "").strip()
    groups = []
    if query:
        for database in {r.database for r in definition().registers.values() if r.search}:
            db = datasette.get_database(database)   # rows written around the app: index them first
            if not await db.execute_fn(search_index.queue_is_empty):
                await db.execute_write_fn(lambda conn: search_index.drain(conn, definition()))
        for reg in definition().registers.values():
            if not await _readable(datasette, actor, reg):
                continue
            visible = rows_condition(actor, reg.name)   # a narrowed register: only the reader's rows
            scope = f" and {visible}" if visible else ""
            if reg.search:
                sql = (f"select id, {quote(reg.label_column)} as label from {quote(reg.name)} where id in "
                       f"(select rowid from {quote(fts_table(reg))} where {quote(fts_table(reg))} match :match){scope} "
                       f"limit {SEARCH_LIMIT + 1}")
                params = {"match": chinese.search_query(query)}
            else:  # small registers without a search index: their key and label columns
                columns = list(dict.fromkeys([*reg.natural_key, reg.label_column]))
                text_columns = [c for c in columns if c in reg.columns and reg.columns[c].sql_type == "TEXT"]
                if not text_columns:
                    continue
                # 简 and 繁 forms both: names are stored as typed (陳嘉欣 stays 陳嘉欣)
                where = " or ".join(f"{quote(c)} like :simplified or {quote(c)} like :traditional" for c in text_columns)
                sql = f"select id, {quote(reg.label_column)} as label from {quote(reg.name)} where ({where}){scope} limit {SEARCH_LIMIT + 1}"
                params = {"simplified": f"%{chinese.to_simplified(query)}%", "traditional": f"%{chinese.to_traditional(query)}%"}
            rows = await _rows(datasette, reg.database, sql, params)
            if rows:
                groups.append({"reg": reg, "rows": rows[:SEARCH_LIMIT], "more": len(rows) > SEARCH_LIMIT,
                               "all_url": datasette.urls.table(reg.database, reg.name)
                               + (f"?_search={urllib.parse.quote(query)}" if reg.search else "")})
    return Response.html(await datasette.render_template(
        "search.html", {"query": query, "groups": groups}, request=request))


@hookimpl
def register_routes():
    return [(r"^/$", home), (r"^/-/search$", search)]
