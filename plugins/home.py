"""The staff home page (replaces Datasette's index for people who are logged in): the registers
by area with their row counts and purpose, 我的待办 for the employee linked to the login, and a
quick search across every register the reader may read."""

import urllib.parse

from datasette import hookimpl
from datasette.utils.asgi import Response

from taizhang import backup, chinese, clock
from taizhang import search as search_index
from taizhang.schema import fts_table, quote
from taizhang.web import data_dir, definition, may, rows_condition

# "Due" on the home page: overdue, or due within this many days.
DUE_SOON_DAYS = 7
EXPIRING_DAYS = 30
SEARCH_LIMIT = 20

MY_ACTIONS_SQL = """
select a.id, a.item, a.due_on, coalesce(a.status, '未开始') as status, m.id as meeting_id, m.title as meeting
from meeting_actions a join meetings m on m.id = a.meeting_id
where a.owner_id = :employee and coalesce(a.status, '未开始') not in ('已完成', '已取消')
  and a.due_on <= date(:today, '+' || :days || ' days')
order by a.due_on
"""
MY_VISITS_SQL = """
select c.id, c.customer_no, c.name, t.name as tier, c.last_visit_on,
  date(c.last_visit_on, '+' || t.follow_up_days || ' days') as due_on
from customers c left join customer_tiers t on t.id = c.tier_id
where c.owner_id = :employee
  and (c.last_visit_on is null or date(c.last_visit_on, '+' || t.follow_up_days || ' days') < :today)
order by c.last_visit_on is not null, due_on
limit 50
"""
EXPIRING_SQL = """
select id, agreement_no, party_name, expires_on from confidentiality_agreements
where coalesce(status, '有效') = '有效' and expires_on between :today and date(:today, '+' || :days || ' days')
order by expires_on
"""


async def _readable(datasette, actor, reg) -> bool:
    return await may(datasette, actor, "view-table", reg.database, reg.name)


async def _rows(datasette, database: str, sql: str, params: dict) -> list[dict]:
    result = await datasette.get_database(database).execute(sql, params)
    return [dict(row) for row in result.rows]


async def _my_todo(datasette, actor, readable: set[str]) -> dict:
    today = clock.today().isoformat()
    todo = {"actions": [], "visits": [], "agreements": [], "employee": None}
    employee_no = actor.get("employee_no")
    if employee_no and "employees" in readable:
        found = await _rows(datasette, "ops", "select id, name from employees where employee_no = :no", {"no": employee_no})
        if found:
            todo["employee"] = found[0]
            params = {"employee": found[0]["id"], "today": today, "days": DUE_SOON_DAYS}
            if {"meeting_actions", "meetings"} <= readable:
                todo["actions"] = await _rows(datasette, "ops", MY_ACTIONS_SQL, params)
            if {"customers", "customer_tiers"} <= readable:
                todo["visits"] = await _rows(datasette, "ops", MY_VISITS_SQL, params)
    if "confidentiality_agreements" in readable:
        todo["agreements"] = await _rows(
            datasette, "hr", EXPIRING_SQL, {"today": today, "days": EXPIRING_DAYS})
    todo["today"] = today
    return todo


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
        {"areas": areas, "todo": await _my_todo(datasette, actor, readable), "due_days": DUE_SOON_DAYS,
         "expiring_days": EXPIRING_DAYS, "backup_warning": _backup_warning(datasette, actor)},
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
