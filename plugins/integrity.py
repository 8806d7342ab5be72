"""Every write through Datasette: foreign keys enforced, cross-file references (hr.db ->
ops.db) checked in the same transaction from both sides (an agreement naming a missing 工号, an
ops.db write taking away a 工号 or partner name agreements name), and constraint errors
rewritten in Chinese."""

import json
import re
import sqlite3

from datasette import hookimpl
from datasette.utils import tilde_decode
from datasette.utils.asgi import Request

from taizhang import json_numbers, xref
from taizhang.i18n import localise
from taizhang.messages import BUSY, Refusal, Refused, explain
from taizhang.schema import quote
from taizhang.web import definition, language_of



@hookimpl
def prepare_connection(conn):
    # SQLite enforces foreign keys per connection, and only when asked.
    conn.execute("PRAGMA foreign_keys = ON")
    # A write waits up to 15 s for another writer (an import) to finish before giving up.
    conn.execute("PRAGMA busy_timeout = 15000")


def _read_only(datasette, database: str) -> sqlite3.Connection:
    path = datasette.get_database(database).path
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _lookup_connection(datasette, database: str) -> sqlite3.Connection | None:
    """A read-only connection to the file holding the targets of this database's references."""
    targets = {
        definition().registers[ref["register"]].database
        for reg in definition().registers_in(database)
        for ref in reg.cross_references.values()
    }
    if not targets:
        return None
    (target,) = targets  # one file of targets: ops.db
    return _read_only(datasette, target)


def _referring_connection(datasette, database: str) -> sqlite3.Connection | None:
    """A read-only connection to the file whose rows refer into this database (hr.db for ops.db)."""
    sources = {ref.source.database for ref in xref.references_into(definition(), database)}
    if not sources:
        return None
    (source,) = sources  # one file refers in: hr.db
    return _read_only(datasette, source)


DELETE_PATH = re.compile(r"^/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<pk>[^/]+)/-/delete$")


def _referenced_by(conn, table: str, row_id) -> str | None:
    """Which rows still refer to a row being deleted, as a sentence (None if none do)."""
    parts = []
    for reg in definition().registers.values():
        for col in reg.foreign_keys:
            if col.references != table:
                continue
            try:
                ids = [r[0] for r in conn.execute(
                    f"SELECT id FROM {quote(reg.name)} WHERE {quote(col.name)} = ? ORDER BY id LIMIT 6", [row_id])]
            except sqlite3.OperationalError:   # a register of the other database file
                continue
            if ids:
                count = conn.execute(f"SELECT count(*) FROM {quote(reg.name)} WHERE {quote(col.name)} = ?", [row_id]).fetchone()[0]
                shown = "、".join(map(str, ids[:5])) + ("…" if count > 5 else "")
                parts.append(f"{reg.label}{count} 条（{col.label}，id {shown}）")
    if not parts:
        return None
    return "不能删除：仍有记录引用它——" + "；".join(parts) + "。请先修改或删除这些记录。"


# The JSON write API's routes: their bodies are kept so an error can quote the values received.
JSON_WRITE_PATH = re.compile(r"^/(?P<database>[^/]+)/(?P<table>[^/]+)(/[^/]+)?/-/(insert|upsert|update)$")
# Every route whose body core reads with json.loads, which raises RecursionError (a 500, not a
# ValueError) on a few thousand nested brackets: such a body is refused before it gets there.
JSON_BODY_PATH = re.compile(r"^/[^/]+(/[^/]+){0,2}/-/(insert|upsert|update|delete|create|alter|drop|execute-write)$")
TOO_DEEP = "请求内容的 JSON 嵌套过深，无法处理：请发送普通的记录（对象、列表最多几层）"
BODY_KEY = "taizhang.json_body"


@hookimpl
def asgi_wrapper(datasette):
    limit = datasette.setting("max_post_body_bytes") or 2 * 1024 * 1024

    def wrap(app):
        async def keep_json_body(scope, receive, send):
            if scope["type"] != "http" or scope["method"] != "POST" or not JSON_BODY_PATH.match(scope["path"]):
                return await app(scope, receive, send)
            write = JSON_WRITE_PATH.match(scope["path"])
            messages, size = [], 0
            while True:
                message = await receive()
                messages.append(message)
                size += len(message.get("body", b""))
                if not message.get("more_body") or size > limit:
                    break
            if size <= limit:
                body = b"".join(m.get("body", b"") for m in messages)
                try:
                    data = json.loads(body)
                except RecursionError:
                    return await _send_refusal(send, [TOO_DEEP])
                except ValueError:
                    data = None   # core answers malformed JSON (or reads a form) itself
                if write:
                    scope = {**scope, BODY_KEY: body}
                    if refused := json_numbers.refusals(definition(), tilde_decode(write["table"]), data):
                        # NaN / Infinity / 1e400: json.loads reads them, SQLite would store NaN as NULL.
                        return await _send_refusal(send, refused)

            async def replay():
                # The app reads the same body; after it, the real channel (disconnects).
                return messages.pop(0) if messages else await receive()

            if not write:
                return await app(scope, replay, send)
            await app(scope, replay, _refusal_in_chinese(datasette, Request(scope, receive), send))

        return keep_json_body

    return wrap


async def _send_refusal(send, errors: list[str]) -> None:
    body = json.dumps({"ok": False, "errors": errors}, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": 400, "headers": [
        (b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _refusal_in_chinese(datasette, request, send):
    """A refused write's JSON answer as the person reads it. Core takes the write lock (BEGIN
    IMMEDIATE) before any write_wrapper runs, so a lock timeout arrives as "database is locked":
    said in Chinese here. The sentences are 简体; on a 繁體 page (core's dialog shows them) 繁體,
    on an English page English (the rules' sentences are said from their kinds, i18n.py)."""
    start = {}

    async def rewrite(message):
        if message["type"] == "http.response.start" and message["status"] >= 400:
            start.update(message)
            return
        if start and message["type"] == "http.response.body":
            body = message.get("body", b"")
            if b"database is locked" in body:
                body = body.replace(b"database is locked", json.dumps(BUSY)[1:-1].encode())
            body = await _in_page_language(datasette, request, body)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            start.clear()
            return await send({**message, "body": body})
        await send(message)

    return rewrite


async def _in_page_language(datasette, request, body: bytes) -> bytes:
    lang = await language_of(datasette, request)
    if lang not in ("zh-Hant", "en"):
        return body
    try:
        answer = json.loads(body)
    except ValueError:
        return body
    if isinstance(answer, dict) and isinstance(answer.get("errors"), list):
        answer["errors"] = localise(answer["errors"], lang, display=True)
    return json.dumps(answer, ensure_ascii=False).encode()


def _rows_written(request) -> tuple[str | None, list]:
    """The table a request was writing (every route that writes one register names it: core's,
    the form's, the grid's …) and, for the JSON API, its rows, when known."""
    if request is None:
        return None, []
    match = JSON_WRITE_PATH.match(request.path)
    body = request.scope.get(BODY_KEY)
    if not match or not body:
        table = request.url_vars.get("table")
        return (tilde_decode(table) if table else None), []
    try:
        data = json.loads(body)
    except ValueError:
        return None, []
    if not isinstance(data, dict):
        return None, []
    rows = data.get("rows") or ([data["row"]] if "row" in data else []) or ([data["update"]] if "update" in data else [])
    return tilde_decode(match["table"]), rows if isinstance(rows, list) else []


@hookimpl
def write_wrapper(datasette, database, request, transaction):
    if database not in definition().databases:
        return None
    has_references = any(r.cross_references for r in definition().registers_in(database))
    referred_to = bool(xref.references_into(definition(), database))

    def checked_write(conn):
        if has_references:
            xref.clear_queue(conn)
        # Keys that rows of another file name (工号, partner names), as they are before the write.
        guard = None
        if referred_to:
            source = _referring_connection(datasette, database)
            try:
                guard = xref.KeyGuard(conn, source, definition(), database)
            finally:
                source.close()
        try:
            yield
        except sqlite3.IntegrityError as ex:
            deleting = DELETE_PATH.match(request.path) if request else None
            if deleting and getattr(ex, "sqlite_errorname", "") == "SQLITE_CONSTRAINT_FOREIGNKEY":
                sentence = _referenced_by(conn, tilde_decode(deleting["table"]), tilde_decode(deleting["pk"]))
                if sentence:
                    raise sqlite3.IntegrityError(sentence) from ex
            table, rows = _rows_written(request)
            raise Refused(explain(str(ex), definition(), table, rows)) from ex
        if has_references:
            lookup = _lookup_connection(datasette, database)
            try:
                problems = xref.dangling(conn, lookup, definition(), database, only_queued=True)
            finally:
                lookup.close()
            xref.clear_queue(conn)
            if problems:
                columns = tuple(dict.fromkeys(p.column for p in problems))
                raise Refused(Refusal("foreign_key", columns, {}, "；".join(p.sentence for p in problems)))
        if guard is not None:
            guard.check(conn)

    return checked_write
