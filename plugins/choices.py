"""The reference picker's endpoint: GET /-/choices/{database}/{table}/{column}?q=… answers
{"choices": [{"id": 12, "label": "张三（00012）· 市场部"}]} — at most 20 rows of the register the
column refers to, searched in 简 and 繁 (taizhang/choices.py). `?id=12` answers that row's label
(a form showing its current value). Only for someone who may add or edit rows of `table` and
may read the target register: a picker must not open a register its user could not read."""

from datasette import hookimpl
from datasette.utils.asgi import Response

from taizhang import choices
from taizhang.web import definition, may, rows_condition


def _error(message: str, status: int) -> Response:
    return Response.json({"ok": False, "error": message}, status=status)


async def choices_view(request, datasette):
    if request.method != "GET":
        return _error("只支持 GET 请求", 405)
    database, table, column = (request.url_vars[k] for k in ("database", "table", "column"))
    reg = definition().registers.get(table)
    col = reg.columns.get(column) if reg and reg.database == database else None
    actor = request.actor
    writes = col is not None and (await may(datasette, actor, "insert-row", database, table)
                                  or await may(datasette, actor, "update-row", database, table))
    if not writes:   # the same answer whether or not the register exists
        return _error("没有此操作的权限", 403)
    if col.type != "fk":
        return _error(f"{col.label}不是引用字段，没有可选记录", 400)
    target = definition().registers[col.references]
    if not await may(datasette, actor, "view-table", target.database, target.name):
        return _error(f"没有查看{target.label}的权限", 403)
    ids = None
    if request.args.get("id"):
        raw = request.args["id"]
        # ASCII digits only ("²" passes isdigit but not int()), and what SQLite can hold
        if not (raw.isascii() and raw.isdigit() and int(raw) < 2**63):
            return _error(f"id 应为整数，收到「{raw}」", 400)
        ids = [int(raw)]
    found = await choices.search(datasette.get_database(target.database), target, request.args.get("q", ""), ids,
                                 visible=rows_condition(actor, target.name, alias="t."))
    return Response.json({"choices": found})


@hookimpl
def register_routes():
    return [(r"^/-/choices/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<column>[^/]+)$", choices_view)]
