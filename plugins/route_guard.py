"""Routes core serves that staff do not need: introspection pages (the schema at every level
among them) for admins only, methods a route does not take refused with 405 before core fails
on them with a 500, and core's other 500s for bad input answered as the asker's mistake."""

import re
import sqlite3

from datasette import hookimpl
from datasette.views.base import DatasetteError
from datasette.utils.asgi import Request

from taizhang.messages import BUSY
from taizhang.web import refusal, resolve_actor

# Pages about the app itself — versions, plugins, settings, permissions debugging, the whole
# schema, the API explorer: useful to an administrator, a map for anyone else.
ADMIN_ONLY = re.compile(
    r"^/-/(versions|plugins|settings|config|threads|tasks|databases|actions|permissions|rules"
    r"|allow-debug|patterns|debug/.*|api|schema|queries|create-token|messages)(\.\w+)?$"
    # (a database's /-/queries page leads to 报表, plugins/reports.py: every report one may open)
    r"|^/[^/]+/-/queries\.json$"
    # The schema of one database or one table: the same map, one level down.
    r"|^/[^/]+(/[^/]+)?/-/schema(\.\w+)?$"
)
# Read-only routes: core answers a POST to them with a 500 (1.0a41).
GET_ONLY = re.compile(r"^/[^/]+/-/query(\.\w+)?$")


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def guard(scope, receive, send):
            if scope["type"] == "http":
                path = scope["path"]
                if GET_ONLY.match(path) and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
                    return await refusal(path, 405, "此地址只接受 GET 请求").asgi_send(send)
                if ADMIN_ONLY.match(path):
                    actor = await resolve_actor(datasette, Request(scope, receive)) or {}
                    if "admin" not in (actor.get("roles") or []):
                        return await refusal(path, 403, "只有管理员可以访问此页面").asgi_send(send)
            await app(scope, receive, send)

        return guard

    return wrap


@hookimpl
def handle_exception(datasette, request, exception):
    """Core fails with a 500 on some bad requests (a DatasetteError left at 500, an unknown
    format, SQL a facet composed, a number too big): they are the asker's to fix, so they answer
    400 (404 for a format) in Chinese. Told apart by exception type and route, never by text."""
    if isinstance(exception, DatasetteError) and exception.status == 500:
        return refusal(request.path, 400, exception.message)
    # An integer SQLite cannot hold (a row id of 30 digits in a URL) fails before any query runs.
    if isinstance(exception, OverflowError):
        return refusal(request.path, 400, "数值过大，超出了可保存的范围")
    # A format no renderer has (.CSV in capitals, .tsv): core asserts, after running the query.
    fmt = request.url_vars.get("format")
    if fmt and fmt != "csv" and fmt not in datasette.renderers:
        known = "、".join(f".{f}" for f in sorted({"csv", *datasette.renderers}))
        return refusal(request.path, 404, f"不支持的格式「.{fmt}」：可用的格式有 {known}（扩展名须小写）")
    # SQL that the request's parameters composed (a facet or sort on a column the table or
    # query does not have): SQLite refuses it after the permission checks ran.
    # Only SQLite's SQL errors (SQLITE_ERROR: no such column, syntax) are the asker's: a busy
    # database (a long import holding the write lock a page's search-index drain waits for) is
    # the server's, said as such; a disk or corruption error stays a 500.
    if isinstance(exception, sqlite3.Error) and request.method in ("GET", "HEAD"):
        code = getattr(exception, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            response = refusal(request.path, 503, BUSY)
            response.headers["Retry-After"] = "2"
            return response
        if primary in (None, sqlite3.SQLITE_ERROR):
            return refusal(request.path, 400, f"无法按此地址的参数查询（{exception}）：请检查 _facet、_sort 等参数中的列名")
    # A form body that is not UTF-8: core's post_vars() decodes it without asking.
    if isinstance(exception, UnicodeDecodeError):
        return refusal(request.path, 400, "请求内容不是有效的 UTF-8 文本，请在浏览器中重新提交表单")
    # Core's token form checks the duration with str.isdigit(), which "²" passes, then int() fails.
    if isinstance(exception, ValueError) and request.path == "/-/create-token":
        return refusal(request.path, 400, "有效期应为正整数（阿拉伯数字），请重新填写")
    return None
