"""变更历史: a row's history (row action), a register's (table action), the whole instance's
(admins and managers), and restoring a row or one field to an earlier version — itself a
write, so it is audited like any other."""

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, NotFound, Response

from taizhang import history
from taizhang.web import definition, may, row_visible, rows_condition

INSTANCE_ROLES = {"admin", "manager"}


async def _readable(datasette, actor, database: str, table: str) -> bool:
    return await may(datasette, actor, "view-table", database, table)


async def _check_register(datasette, request) -> tuple[str, str]:
    database, table = request.url_vars["database"], request.url_vars["table"]
    reg = definition().registers.get(table)
    # One answer for "no such register" and "not yours to read": nothing is disclosed.
    if reg is None or reg.database != database or not await _readable(datasette, request.actor, database, table):
        raise Forbidden("没有查看此台账变更历史的权限")
    return database, table


def _filters(request) -> dict:
    args = request.args
    return {
        "actor": args.get("actor") or None,
        "operation": args.get("operation") if args.get("operation") in history.OPERATIONS else None,
        "since": args.get("since") or None,
        "until": args.get("until") or None,
    }


def _rows(actor, tables) -> dict[str, str]:
    """The narrowed registers among `tables`, with the rows this reader sees (row-level access)."""
    return {t: c for t in tables if (c := rows_condition(actor, t)) is not None}


async def _entries(datasette, request, database, tables, **kwargs):
    db = datasette.get_database(database)
    rows = _rows(request.actor, tables)
    return await db.execute_fn(lambda conn: history.entries(conn, definition(), database, tables, rows=rows, **kwargs))


async def _check_row(datasette, request, database, table, row_id) -> None:
    """A row outside the reader's scope has no history for them, like a row that never was
    (for a narrowed reader a deleted row is outside it too: its owner cannot be asked)."""
    if not await row_visible(datasette, request.actor, database, table, row_id):
        raise NotFound("没有这条记录")


async def _render(datasette, request, title, entries, **context):
    return Response.html(
        await datasette.render_template(
            "history.html",
            {"title": title, "entries": entries, "filters": _filters(request),
             "operations": history.OPERATIONS,
             # roles by their Chinese label (公司领导, not leader)
             "role_labels": {name: spec["label"] for name, spec in definition().roles.items()}, **context},
            request=request,
        )
    )


async def row_history(request, datasette):
    database, table = await _check_register(datasette, request)
    row_id = int(request.url_vars["row_id"])
    await _check_row(datasette, request, database, table, row_id)
    entries = await _entries(datasette, request, database, [table], row_id=row_id)
    reg = definition().registers[table]
    can_restore = await may(datasette, request.actor, "update-row", database, table) and await may(datasette, request.actor, "insert-row", database, table)
    return await _render(
        datasette, request, f"{reg.label} · 第 {row_id} 条记录的变更历史", entries,
        database=database, table=table, row_id=row_id, can_restore=can_restore,
        row_url=datasette.urls.row(database, table, str(row_id)),
    )


async def table_history(request, datasette):
    database, table = await _check_register(datasette, request)
    entries = await _entries(datasette, request, database, [table], **_filters(request))
    reg = definition().registers[table]
    return await _render(datasette, request, f"{reg.label} · 变更历史", entries,
                         database=database, table=table, show_filters=True)


async def instance_history(request, datasette):
    roles = set((request.actor or {}).get("roles") or [])
    if not roles & INSTANCE_ROLES:
        raise Forbidden("只有管理员和运营经理可以查看全部变更历史")
    wanted = request.args.get("table") or None
    entries = []
    for database in definition().databases:
        tables = [
            r.name for r in definition().registers_in(database)
            if (wanted in (None, r.name)) and await _readable(datasette, request.actor, database, r.name)
        ]
        entries += await _entries(datasette, request, database, tables, **_filters(request))
    entries.sort(key=lambda e: e.at, reverse=True)
    registers = [r for r in definition().registers.values()
                 if await _readable(datasette, request.actor, r.database, r.name)]
    return await _render(datasette, request, "全部变更历史", entries[: history.PAGE_SIZE],
                         show_filters=True, show_table_filter=True, registers=registers,
                         selected_table=wanted)


async def restore(request, datasette):
    if request.method != "POST":
        raise NotFound("请在变更历史页面上使用“恢复”按钮")
    database, table = await _check_register(datasette, request)
    row_id = int(request.url_vars["row_id"])
    for action in ("update-row", "insert-row"):
        if not await may(datasette, request.actor, action, database, table):
            raise Forbidden("没有恢复此台账记录的权限")
    await _check_row(datasette, request, database, table, row_id)
    post = await request.post_vars()
    try:
        log_id = int(post.get("log_id", ""))
    except ValueError:
        raise NotFound("没有这条变更记录")
    column = post.get("column") or None
    db = datasette.get_database(database)
    rows = _rows(request.actor, [table])
    found = await db.execute_fn(lambda conn: history.entry(conn, definition(), database, table, log_id, rows=rows))
    if found is None or found.row_id != row_id:
        raise NotFound("没有这条变更记录")
    if column:
        if column not in (found.before or {}):
            raise NotFound("这条变更没有该字段的旧值")
        values, note = {column: found.before[column]}, f"字段恢复为第 {log_id} 条变更前的值"
    else:
        values, note = found.restorable, f"记录恢复为第 {log_id} 条变更{'前' if found.operation == 'delete' else '后'}的版本"
    request.scope["taizhang.audit_note"] = note
    back = datasette.urls.path(f"/-/history/{database}/{table}/{row_id}")
    try:
        await db.execute_write_fn(lambda conn: history.restore(conn, table, row_id, values), request=request)
    except Exception as ex:  # a constraint error: the message is already a Chinese sentence
        datasette.add_message(request, f"未能恢复：{ex}", datasette.ERROR)
        return Response.redirect(back)
    datasette.add_message(request, note, datasette.INFO)
    return Response.redirect(back)


@hookimpl
def register_routes():
    return [
        (r"^/-/history$", instance_history),
        (r"^/-/history/(?P<database>[^/]+)/(?P<table>[^/]+)$", table_history),
        (r"^/-/history/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<row_id>\d+)$", row_history),
        (r"^/-/history/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<row_id>\d+)/restore$", restore),
    ]


@hookimpl
def row_actions(datasette, actor, request, database, table, row):
    if table not in definition().registers:
        return None
    return [{
        "href": datasette.urls.path(f"/-/history/{database}/{table}/{row['id']}"),
        "label": "变更历史",
        "description": "谁在何时改了什么，可恢复到任一版本",
    }]


@hookimpl
def table_actions(datasette, actor, database, table, request):
    if table not in definition().registers:
        return None
    return [{
        "href": datasette.urls.path(f"/-/history/{database}/{table}"),
        "label": "变更历史",
        "description": "本台账的全部变更记录",
    }]


@hookimpl
def menu_links(datasette, actor, request):
    if set((actor or {}).get("roles") or []) & INSTANCE_ROLES:
        return [{"href": datasette.urls.path("/-/history"), "label": "全部变更历史"}]
    return None
