"""Inline cell editing and paste-to-update in core's table grid, for roles that may update
the register: the page gets static/grid.js with the register's column rules; edits go to one
JSON endpoint, POST /-/cells/{database}/{table}, saved all-or-nothing in one audited
transaction (taizhang/cells.py). Viewers and analysts get nothing on the page at all.

CSRF: core refuses cross-site unsafe requests by their Sec-Fetch-Site/Origin headers; the
endpoint also takes only `Content-Type: application/json`, which a cross-site HTML form cannot
send (and a cross-site fetch cannot send without a CORS preflight we never answer)."""

import functools
import json

from datasette import hookimpl
from datasette.utils.asgi import Response

from taizhang import cells
from taizhang.i18n import localise
from taizhang.messages import BUSY, Refused, is_busy
from taizhang.web import definition, language_of, may, rows_condition

MAX_BODY_BYTES = 1024 * 1024
# Not editable in the grid: the key and the times the database keeps.
READ_ONLY = ("id", "created_at", "updated_at")


async def _editable_register(datasette, actor, database, table):
    """The register when this actor may edit its rows here, else None."""
    reg = definition().registers.get(table or "")
    if reg is None or reg.database != database or not actor:
        return None
    return reg if await may(datasette, actor, "update-row", database, table) else None


def _refuse_in(status: int, message: str, errors=None, lang: str = "zh-Hans") -> Response:
    return Response.json(localise({"ok": False, "message": message, "errors": errors or [
        {"id": None, "column": None, "message": message, "conflict": False}]}, lang), status=status)


async def cells_endpoint(request, datasette):
    database, table = request.url_vars["database"], request.url_vars["table"]
    lang = await language_of(datasette, request)
    _refuse = functools.partial(_refuse_in, lang=lang)
    if request.method != "POST":
        return _refuse(405, "此地址只接受 POST 请求")
    reg = await _editable_register(datasette, request.actor, database, table)
    if reg is None:
        return _refuse(403, "没有修改此台账的权限")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        return _refuse(400, "请求须为 JSON（Content-Type: application/json）")
    try:
        body = json.loads(await request.post_body(max_bytes=MAX_BODY_BYTES))
    except Exception:   # malformed JSON, bad encoding, or larger than MAX_BODY_BYTES
        return _refuse(400, f"请求内容不是有效的 JSON，或超过 {MAX_BODY_BYTES // 1024} KB")
    changes = []
    try:
        changes = cells.read_changes(body, reg)
        db = datasette.get_database(database)
        visible = _visible(request.actor, reg)
        saved = await db.execute_write_fn(lambda conn: cells.save(conn, definition(), reg, changes, visible),
                                          request=request)
    except cells.Refused as refused:
        return _answer_refusal(refused.errors, _refuse)
    except Refused as refused:   # at commit: a cross-file reference, or a key other rows name — on its cells
        keys = set(refused.refusal.columns)
        return _answer_refusal(cells.place(str(refused), [c for c in changes if c.column in keys] or changes), _refuse)
    except Exception as ex:   # a busy database, or another refusal of the whole write
        return _answer_refusal(cells.place(BUSY if is_busy(ex) else str(ex), changes), _refuse)
    for shown in saved.values():
        for cell in shown["cells"].values():
            if "register" in cell:
                cell["href"] = datasette.urls.row(cell.pop("database"), cell.pop("register"), str(cell["value"]))
    return Response.json({"ok": True, "rows": {str(k): v for k, v in saved.items()}})


def _visible(actor, reg) -> dict[str, str]:
    """The writer's rows of this register and of those it refers to, where narrowed."""
    tables = {reg.name, *(c.references for c in reg.foreign_keys)}
    return {t: c for t in tables if (c := rows_condition(actor, t)) is not None}


def _answer_refusal(errors: list[dict], refuse) -> Response:
    conflicted = any(e["conflict"] for e in errors)
    message = errors[0]["message"] if len(errors) == 1 else f"有 {len(errors)} 个单元格未能保存，全部未保存"
    return refuse(409 if conflicted else 400, message, errors)


@hookimpl
def register_routes():
    return [(r"^/-/cells/(?P<database>[^/]+)/(?P<table>[^/]+)$", cells_endpoint)]


def _rules(reg) -> dict:
    """What grid.js needs to know about each column: its widget, label and limits."""
    columns = {}
    for name in cells.editable(reg):
        col = reg.columns[name]
        columns[name] = {
            "type": "textarea" if col.long else col.type, "label": col.label, "required": col.required,
            "values": [str(v) for v in col.values] if col.type == "enum" else None,
            "min": col.min, "max": col.max, "references": col.references, "not_before": col.not_before,
        }
    reasons = {reg.workflow.column: cells.state_reason(reg)} if reg.workflow else {}
    return {"columns": columns, "readOnly": [*READ_ONLY, *(c for c in reg.columns if c not in columns)],
            "readOnlyReasons": reasons}


async def _grid_register(datasette, view_name, database, table, request):
    """The register when this page is its table page and the viewer may edit it. Asked by
    three hooks per page: the answer is kept on the request, so one permission check."""
    if view_name != "table" or request is None or table not in definition().registers:
        return None
    key = ("taizhang.grid", database, table)
    if key not in request.scope:
        request.scope[key] = await _editable_register(datasette, request.actor, database, table)
    return request.scope[key]


@hookimpl
def extra_js_urls(view_name, database, table, request, datasette):
    async def inner():
        reg = await _grid_register(datasette, view_name, database, table, request)
        # A module: deferred, so it never holds up the page being parsed and shown.
        return [{"url": "/assets/grid.js", "module": True}] if reg else []

    return inner


@hookimpl
def extra_css_urls(view_name, database, table, request, datasette):
    async def inner():
        reg = await _grid_register(datasette, view_name, database, table, request)
        return ["/assets/grid.css"] if reg else []

    return inner


@hookimpl
def extra_body_script(view_name, database, table, request, datasette):
    async def inner():
        reg = await _grid_register(datasette, view_name, database, table, request)
        if reg is None:
            return ""
        config = localise({"endpoint": datasette.urls.path(f"/-/cells/{database}/{table}"),
                           "tableUrl": datasette.urls.table(database, table), **_rules(reg)},
                          await language_of(datasette, request))
        # </script> cannot appear: json.dumps escapes nothing, so "<" is escaped by hand.
        return "window.taizhangGrid = " + json.dumps(config, ensure_ascii=False).replace("<", "\\u003c") + ";"

    return inner
