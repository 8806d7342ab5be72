"""Reads of confidential registers are recorded: who, when, and which page — a row, the
table (which filters), an export, a report, SQL or history — in the same file's _read_log,
append-only like the audit log."""

import re

from datasette import hookimpl
from datasette.utils.asgi import Request

from taizhang.audit import READ_LOG
from taizhang.web import definition, resolve_actor


def _confidential_databases() -> set[str]:
    return {r.database for r in definition().registers.values() if r.confidential}


def _kind(path: str, query: str, database: str, datasette) -> str | None:
    """What a successful GET under a confidential database read, or None if nothing."""
    if path.startswith(f"/-/history/{database}"):
        return "history"
    rest = path[len(database) + 2:] if path.startswith(f"/{database}") else None
    if rest is None:
        return None
    if rest.startswith("-/query") or "sql=" in query:
        return "sql"
    if rest in ("", ".json"):  # the database page: table names and counts, no rows
        return None
    name = re.split(r"[/.]", rest, maxsplit=1)[0]
    queries = (datasette.config or {}).get("databases", {}).get(database, {}).get("queries", {})
    if name in queries:
        return "report"
    if path.endswith((".csv", ".json", ".xlsx")):
        return "export"
    return "row" if re.match(r"^[^/]+/[^/]+", rest) else "table"


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def log_confidential_reads(scope, receive, send):
            if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
                return await app(scope, receive, send)
            database = next(
                (db for db in _confidential_databases()
                 if scope["path"].startswith((f"/{db}", f"/-/history/{db}"))),
                None,
            )
            if database is None:
                return await app(scope, receive, send)
            status = {}

            async def watch(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            await app(scope, receive, watch)
            query = scope.get("query_string", b"").decode("latin-1")
            kind = _kind(scope["path"], query, database, datasette)
            if status.get("code") != 200 or kind is None:
                return
            request = Request(scope, receive)
            actor = await resolve_actor(datasette, request) or {}
            roles = actor.get("roles") or [None]
            await datasette.get_database(database).execute_write_fn(
                lambda conn: conn.execute(
                    f"INSERT INTO {READ_LOG} (actor, role, kind, path, query) VALUES (?, ?, ?, ?, ?)",
                    [actor.get("id"), roles[0], kind, scope["path"], query or None],
                )
            )

        return log_confidential_reads

    return wrap
