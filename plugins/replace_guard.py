"""Core's JSON insert with "replace": true deletes: SQLite's INSERT OR REPLACE removes every
row the new one collides with (by id or by any unique column) and inserts the row as sent, so a
column the request left out comes back empty. Core asks only for update-row. Here a replacing
insert also needs delete-row on the register, and each of its rows must carry every column of
the table (id and the timestamps aside): a partial row is refused, never stored with blanks.

Upsert (`/-/upsert`) needs nothing more: sqlite-utils writes it as INSERT … ON CONFLICT(id) DO
UPDATE of the columns sent, so the others keep their values (tests/test_delete_permissions.py).
"""

import json
import re

from datasette import hookimpl
from datasette.utils import tilde_decode
from datasette.utils.asgi import Request, Response

from taizhang.audit import UNAUDITED_COLUMNS
from taizhang.i18n import localise
from taizhang.web import definition, language_of, may, resolve_actor

INSERT_PATH = re.compile(r"^/(?P<database>[^/]+)/(?P<table>[^/]+)/-/insert$")
# Core's /<db>/-/create with "replace" inserts into the table the body names, when it exists,
# the same way (admins only, by create-table): the same rule.
CREATE_PATH = re.compile(r"^/(?P<database>[^/]+)/-/create$")


@hookimpl
def asgi_wrapper(datasette):
    # Core's own cap on the body (0: none). A body over it is not read to the end here: core
    # refuses it (413) with the same cap, so it never reaches a write.
    limit = datasette.setting("max_post_body_bytes")

    def wrap(app):
        async def guarded(scope, receive, send):
            post = scope["type"] == "http" and scope["method"] == "POST"
            match = (INSERT_PATH.match(scope["path"]) or CREATE_PATH.match(scope["path"])) if post else None
            if not match:
                return await app(scope, receive, send)
            messages, size = [], 0
            while True:
                message = await receive()
                messages.append(message)
                size += len(message.get("body", b""))
                if not message.get("more_body") or (limit and size > limit):
                    break

            async def replay():
                return messages.pop(0) if messages else await receive()

            if not limit or size <= limit:
                body = b"".join(m.get("body", b"") for m in messages)
                request = Request(scope, receive)
                table = match.groupdict().get("table")
                refusal = await _refusal(datasette, request, tilde_decode(match["database"]),
                                         tilde_decode(table) if table else None, body)
                if refusal is not None:
                    return await refusal.asgi_send(send)
            # Not a replace, or too large: core answers it as it would.
            return await app(scope, replay, send)

        return guarded

    return wrap


async def _refusal(datasette, request, database: str, table: str | None, body: bytes) -> Response | None:
    """The answer refusing a replacing insert, or None to let core handle the request.
    `table` is None for /-/create, which names it in the body."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or not data.get("replace"):
        return None
    if table is None:
        table = data.get("table")
        if not isinstance(table, str):
            return None   # core explains it
    if database not in datasette.databases or not await datasette.get_database(database).table_exists(table):
        return None   # core's own 404
    actor = await resolve_actor(datasette, request)
    if not await may(datasette, actor, "insert-row", database, table):
        return None   # core's own refusal
    reg = definition().registers.get(table)
    label = reg.label if reg else table
    if not await may(datasette, actor, "delete-row", database, table):
        return await _error(datasette, request, 403, [
            f"没有删除{label}记录的权限：“replace”会先删除 id 或唯一字段相同的已有记录，"
            "需要删除权限；只修改已有记录请用 /-/upsert（只改发送的字段）"])
    columns = await datasette.get_database(database).table_columns(table)
    needed = [c for c in columns if c not in ("id", *UNAUDITED_COLUMNS)]
    rows = data.get("rows") if "rows" in data else [data.get("row")]
    problems = []
    for number, row in enumerate(rows if isinstance(rows, list) else [], start=1):
        if not isinstance(row, dict):
            continue   # core explains a malformed row
        left_out = [c for c in needed if c not in row]
        if left_out:
            names = "、".join(definition().column_label(table, c) for c in left_out)
            problems.append(f"第 {number} 行缺少字段：{names}。“replace”会把未发送的字段清空；"
                            "请发送完整记录，或用 /-/upsert 只修改发送的字段")
    if problems:
        return await _error(datasette, request, 400, problems)
    return None


async def _error(datasette, request, status: int, errors: list[str]) -> Response:
    """Core's JSON error shape; 繁體 on a 繁體 page, as plugins/integrity.py answers."""
    lang = await language_of(datasette, request)
    if lang == "zh-Hant":
        errors = localise(errors, lang, display=True)
    return Response.json({"ok": False, "errors": errors}, status=status)
