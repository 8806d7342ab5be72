"""Reads of confidential registers are recorded: who, when, and which page — a row, the
table (which filters), an export, a report, SQL, history, the edit form, 我的待办, the quick
search, the linked records on an employee's or partner's page, a grid or JSON write answering
with rows, SQL writes answering with their RETURNING rows — in the same file's _read_log, append-only like the audit log.

One mechanism, not a call in each page: every read query against a confidential database
runs under SQLite's authorizer (taizhang/reads.py), which notes the confidential tables whose
values a query returned; at the end of the request one row per database is written if the
page showed any. A page that read nothing confidential (a count, a filter matching nothing,
a refusal) writes none."""

import contextvars
import json
import re
import sqlite3
import urllib.parse

from datasette import hookimpl
from datasette.utils.asgi import Request

from taizhang import reads, row_access
from taizhang.audit import READ_LOG
from taizhang.web import definition, resolve_actor

# The confidential tables read during the current request, by database. Datasette copies the
# context into its worker threads, so the set filled there is this request's set; a request a
# plugin makes through datasette.client (the xlsx export) joins the outer one.
_READ = contextvars.ContextVar("taizhang_confidential_reads", default=None)
# The SQL the reader wrote into the current request (`sql=`, `_where=`), and whether the query
# being run holds it: for such a query a count is no proof that nothing was shown
# (taizhang/reads.py). The page's own queries (counts of tables, the menu) keep the exemption.
_OWN_SQL = contextvars.ContextVar("taizhang_reader_sql", default=())
_RUNS_OWN_SQL = contextvars.ContextVar("taizhang_runs_reader_sql", default=False)
# Database -> the tables the reader's own SQL may not read (row-level access: registers they
# read narrowed or not at all, taizhang/row_access.py). Worked out only for requests carrying SQL.
_DENIED = contextvars.ContextVar("taizhang_denied_to_reader_sql", default=None)


def _own_sql(scope) -> tuple[str, ...]:
    # Decoded as Datasette reads them (`%73ql=` is `sql=`).
    pairs = urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    return tuple(v.strip() for k, v in pairs if k in ("sql", "_where") and v.strip())

# Our pages, by path: what the reader saw there.
PAGE_KINDS = (
    (re.compile(r"^/$"), "home"),                 # 我的待办: agreements expiring soon
    (re.compile(r"^/-/search$"), "search"),
    (re.compile(r"^/-/form/"), "form"),
    (re.compile(r"^/-/history"), "history"),
    (re.compile(r"^/-/cells/"), "cells"),
    (re.compile(r"^/-/choices/"), "choices"),
    (re.compile(r"^/-/linked/"), "linked"),
    (re.compile(r"^/-/import"), "import"),
)
# Writes answer with rows or not: the grid with the saved cells, the JSON API when asked to
# ("return": true, or one "row"). The row they read before writing is not shown, so for them the
# answer decides. That also covers rows read back on the write connection (core's insert does),
# which is not watched: its triggers read every column of every row they audit.
ANSWERS_WITH_ROWS = re.compile(
    r"^/-/cells/(?P<cells>[^/]+)/[^/]+$|^/(?P<api>[^/]+)/[^/]+(/[^/]+)?/-/(insert|upsert|update|delete)$")


def _kind(path: str, query: str, database: str, datasette) -> str:
    """What kind of page showed `database`'s confidential data."""
    for pattern, kind in PAGE_KINDS:
        if pattern.match(path):
            return kind
    if not path.startswith(f"/{database}"):
        # Another database's row page listing the agreements that name its employee or partner.
        return "linked"
    rest = path[len(database) + 2:]
    if rest.startswith(("-/query", "-/execute-write")) or "sql=" in query:
        return "sql"
    name = re.split(r"[/.]", rest, maxsplit=1)[0]
    queries = (datasette.config or {}).get("databases", {}).get(database, {}).get("queries", {})
    if name in queries:
        return "report"
    if "/-/" in rest:
        return "api"   # a JSON write answering with the stored rows
    if path.endswith((".csv", ".json", ".xlsx")):
        return "export"
    return "row" if re.match(r"^[^/]+/[^/]+", rest) else "table"


def _has_rows(body: bytes) -> bool:
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and bool(answer.get("rows"))


@hookimpl
def startup(datasette):
    confidential = reads.confidential_tables(definition())
    for name in definition().databases:   # every file: row-level access watches ops.db too
        if name in datasette.databases:
            _watch(datasette.get_database(name), name, confidential.get(name, set()))


def _refused(table: str) -> Exception:
    # OperationalError: core answers it as invalid SQL (400) with the sentence.
    return sqlite3.OperationalError(row_access.refused_sentence(definition(), table))


def _watch(db, name: str, tables: set[str]) -> None:
    """Every read of this database (Database.execute and .execute_fn both end in _execute_fn)
    runs under the authorizer while a request is being answered."""
    if getattr(db, "_taizhang_watched", False):
        return
    execute_fn = db._execute_fn

    async def watched_execute_fn(fn):
        seen = _READ.get()
        if seen is None:
            return await execute_fn(fn)
        denied = (_DENIED.get() or {}).get(name) if _RUNS_OWN_SQL.get() else None
        if not tables and not denied:
            return await execute_fn(fn)   # nothing to note or refuse: no authorizer at all
        return await execute_fn(reads.watched(
            fn, tables, seen.setdefault(name, set()), counts_show_nothing=not _RUNS_OWN_SQL.get(),
            denied=(lambda table: row_access.denies(denied, table)) if denied else None, refused=_refused))

    execute = db.execute

    async def watched_execute(sql, *args, **kwargs):
        own = _OWN_SQL.get()
        if not own or not isinstance(sql, str) or not any(text in sql for text in own):
            return await execute(sql, *args, **kwargs)
        token = _RUNS_OWN_SQL.set(True)
        try:
            return await execute(sql, *args, **kwargs)
        finally:
            _RUNS_OWN_SQL.reset(token)

    # SQL writes answer with the rows their RETURNING clause gave (an admin's execute-write, a
    # writable stored query): run on the write connection, unwatched, so judged by the answer.
    execute_write = db.execute_write

    async def watched_execute_write(*args, **kwargs):
        result = await execute_write(*args, **kwargs)
        seen = _READ.get()
        # (A result with columns is a RETURNING one; its rows are read once, by core, so not here.)
        if seen is not None and getattr(result, "description", None) and (getattr(result, "rowcount", 0) or 0) > 0:
            seen.setdefault(name, set()).add("returning")
        return result

    db._execute_fn = watched_execute_fn
    db.execute = watched_execute
    db.execute_write = watched_execute_write
    db._taizhang_watched = True


async def _denied_to(datasette, request) -> dict[str, set[str]]:
    actor = await resolve_actor(datasette, request) or {}
    roles = actor.get("roles") or ()
    return {name: row_access.tables_denied_to_sql(definition(), roles, name) for name in definition().databases}


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def log_confidential_reads(scope, receive, send):
            if scope["type"] != "http" or _READ.get() is not None:
                return await app(scope, receive, send)
            seen: dict[str, set[str]] = {}
            token = _READ.set(seen)
            reader_sql = _own_sql(scope)
            own_sql = _OWN_SQL.set(reader_sql)
            denied = _DENIED.set(await _denied_to(datasette, Request(scope, receive)) if reader_sql else {})
            status, body = {}, []
            write = ANSWERS_WITH_ROWS.match(scope["path"]) if scope["method"] == "POST" else None

            async def watch(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                elif write and message["type"] == "http.response.body":
                    body.append(message.get("body", b""))
                await send(message)

            try:
                await app(scope, receive, watch)
            finally:
                _READ.reset(token)
                _OWN_SQL.reset(own_sql)
                _DENIED.reset(denied)
            code = status.get("code", 500)
            # Shown: a page, or a refusal that repeats values (a form's edit conflict); not a
            # redirect, and not an error page.
            if not (200 <= code < 300 or 400 <= code < 500):
                return
            if write:
                database = write["cells"] or write["api"]
                shown = database in reads.confidential_tables(definition()) and code < 300
                seen = {database: {"rows"}} if shown and _has_rows(b"".join(body)) else {}
            databases = [db for db, tables in seen.items() if tables]
            if not databases:
                return
            request = Request(scope, receive)
            actor = await resolve_actor(datasette, request) or {}
            roles = actor.get("roles") or [None]
            query = scope.get("query_string", b"").decode("latin-1")
            for database in databases:
                kind = _kind(scope["path"], query, database, datasette)
                await datasette.get_database(database).execute_write_fn(
                    lambda conn: conn.execute(
                        f"INSERT INTO {READ_LOG} (actor, role, kind, path, query) VALUES (?, ?, ?, ?, ?)",
                        [actor.get("id"), roles[0], kind, scope["path"], query or None],
                    )
                )

        return log_confidential_reads

    return wrap
