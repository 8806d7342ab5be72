"""Printable documents (`print:` in db/registers.yml): a row as the paper the department files —
会议纪要 with its resolutions, 保密协议, an approved 请假申请表 or 费用报销申请表 with its approval
record — on an A4 page (CSS print: the app's menus and buttons are not printed). Read like the
row page: the register's readers only, a hidden row like a missing one, references as the
labels the reader may see."""

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, NotFound, Response
from markupsafe import Markup

from taizhang import clock, shown, workflow
from taizhang.markdown import render
from taizhang.schema import quote
from taizhang.web import definition, may, row_visible, rows_condition


def _printable(database: str, table: str):
    reg = definition().registers.get(table)
    return reg if reg is not None and reg.database == database and reg.print_title else None


def _value(col, value):
    if value is None or value == "":
        return ""
    if col.type == "bool":
        return "是" if value else "否"
    if col.markdown:
        return Markup(render(value))
    if isinstance(value, float):
        return f"{value:,.2f}" if col.money else f"{value:g}"
    return value


async def _fields(datasette, actor, reg, row: dict) -> list[dict]:
    shown_row = dict(row)
    await shown.reference_labels(datasette, actor, reg, [shown_row], [c.name for c in reg.foreign_keys])
    return [{"label": c.label, "value": _value(c, shown_row[c.name]), "long": c.long and not c.markdown}
            for c in reg.columns.values()]


async def _children(datasette, actor, reg, row_id: int) -> list[dict]:
    out = []
    for child in definition().children(reg.name):
        if not await may(datasette, actor, "view-table", child.database, child.name):
            continue
        columns = [c for c in child.columns.values() if c.name != child.parent]
        where = f"{quote(child.parent)} = ?"
        if visible := rows_condition(actor, child.name):
            where += f" and {visible}"
        order = f"{quote(child.sort_desc)} desc" if child.sort_desc else quote(child.sort or "id")
        result = await datasette.get_database(child.database).execute(
            f"select {', '.join(quote(c.name) for c in columns)} from {quote(child.name)} where {where} order by {order}",
            [row_id])
        rows = [dict(r) for r in result.rows]
        await shown.reference_labels(datasette, actor, child, rows, [c.name for c in columns if c.type == "fk"])
        out.append({"reg": child, "columns": [c.label for c in columns],
                    "rows": [[_value(c, r[c.name]) for c in columns] for r in rows]})
    return out


async def _record(datasette, reg, row_id: int) -> list[dict]:
    entries = await datasette.get_database(reg.database).execute_fn(lambda conn: workflow.timeline(conn, reg, row_id))
    names = await shown.login_names(datasette, {e["actor"] for e in entries if e.get("actor")})
    return [{**e, "at": shown.local_time(e.get("at")), "role": shown.role_label(e.get("role")),
             "name": names.get(e.get("actor"))} for e in entries]


async def print_page(request, datasette):
    actor = request.actor
    database, table, row_id = request.url_vars["database"], request.url_vars["table"], int(request.url_vars["row_id"])
    if not actor or not actor.get("roles"):
        return Response.redirect(datasette.urls.path("/-/login?next=" + request.path))
    reg = _printable(database, table)
    # One answer for "no such document" and "not yours to read": nothing is disclosed.
    if reg is None or not await may(datasette, actor, "view-table", database, table):
        raise Forbidden("没有打印此台账记录的权限")
    if not await row_visible(datasette, actor, database, table, row_id):
        raise NotFound("没有这条记录")
    found = (await datasette.get_database(database).execute(f"select * from {quote(table)} where id = ?", [row_id])).first()
    if found is None:
        raise NotFound("没有这条记录")
    row = dict(found)
    printer = (await shown.login_names(datasette, {actor["id"]})).get(actor["id"]) or actor["id"]
    return Response.html(await datasette.render_template("print.html", {
        "reg": reg, "row": row, "org": definition().instance["title"], "title": reg.print_title,
        "subject": row.get(reg.label_column),
        "fields": await _fields(datasette, actor, reg, row), "children": await _children(datasette, actor, reg, row_id),
        "record": await _record(datasette, reg, row_id) if reg.workflow else None,
        "state": row.get(reg.workflow.column) if reg.workflow else None,
        "printed_at": clock.now().strftime("%Y-%m-%d %H:%M"), "printer": printer,
        "row_url": datasette.urls.row(database, table, str(row_id)),
    }, request=request))


@hookimpl
def register_routes():
    return [(r"^/-/print/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<row_id>\d{1,18})$", print_page)]


@hookimpl
def top_row(datasette, request, database, table, row):
    reg = _printable(database, table)
    if reg is None:
        return None
    row_id = (dict(row) if not isinstance(row, dict) else row)["id"]
    url = datasette.urls.path(f"/-/print/{database}/{table}/{row_id}")
    return Markup(f'<p class="print-link"><a href="{url}">打印{reg.print_title}</a></p>')
