"""Row-level access on core's routes (docs/row-access.md): the condition taizhang/row_access.py
generates from the definition, applied where core reads a register's rows.

- Table pages in every format, their counts, facets, search, sort and filters, /-/count and the
  xlsx export (which reads the JSON pages): the filters_from_request hook adds the condition to
  the WHERE clause core builds all of them from.
- Row pages, row JSON, core's edit and delete dialogs and the JSON API's update and delete (and
  what /-/update answers with): all resolve their row through Datasette.resolve_row, which is
  wrapped here so a row outside the reader's scope is not found, exactly like a missing row.
- The labels core shows for references (a task's 上级任务) and the "links from other tables"
  counts on a row page: only rows the reader may see.
- The row counts of the database page and the index JSON (Database.table_counts, wrapped:
  core calls it without the request, so the request's scope is kept for it in a context var).
- Core's autocomplete (/<db>/<table>/-/autocomplete, its edit dialog's reference picker) has no
  hook: for a narrowed reader it is answered here, in core's shape, from our picker's search
  over the reader's rows.
Writes are kept inside the writer's scope by the database itself (the generated tz_*_rows_*
triggers), whatever path they take."""

import contextvars
import re
import sqlite3

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.filters import FilterArguments
from datasette.utils import value_as_boolean
from datasette.utils.asgi import Request, Response, RowNotFound
from datasette.views.row import RowView

from taizhang import choices, row_access
from taizhang.schema import quote
from taizhang.web import definition, may, resolve_actor, rows_condition

AUTOCOMPLETE = re.compile(r"^/(?P<database>[^/]+)/(?P<table>[^/]+)/-/autocomplete$")
AUTOCOMPLETE_LIMIT = 10   # as core's
# The ASGI scope of the request being answered: for table counts, which core asks for without it.
_SCOPE = contextvars.ContextVar("taizhang_row_access_scope", default=None)


@hookimpl
def filters_from_request(request, database, table, datasette):
    reg = definition().registers.get(table)
    if reg is None or reg.database != database:
        return None
    condition = rows_condition(request.actor, table)
    if condition is None:
        return None
    presets = definition().row_scope((request.actor or {}).get("roles"), table)
    return FilterArguments([condition], human_descriptions=[row_access.scope_words(definition(), reg, presets)])


def _guard_resolve_row(datasette) -> None:
    resolve_row = datasette.resolve_row

    async def resolve_visible_row(request):
        resolved = await resolve_row(request)
        reg = definition().registers.get(resolved.table)
        condition = rows_condition(request.actor, resolved.table) if reg and reg.database == resolved.db.name else None
        if condition is not None:
            found = await resolved.db.execute(
                f"select 1 from {quote(resolved.table)} where id = ? and {condition}", [resolved.row["id"]])
            if found.first() is None:
                raise RowNotFound(resolved.db.name, resolved.table, resolved.pk_values)
        return resolved

    datasette.resolve_row = resolve_visible_row


def _guard_labels(datasette) -> None:
    expand_foreign_keys = datasette.expand_foreign_keys

    async def visible_labels(actor, database, table, column, values):
        labels = await expand_foreign_keys(actor, database, table, column, values)
        reg = definition().registers.get(table)
        col = reg.columns.get(column) if reg and reg.database == database else None
        condition = rows_condition(actor, col.references) if col is not None and col.type == "fk" else None
        if condition is None or not labels:
            return labels
        ids = sorted({value for (_, value) in labels if isinstance(value, int)})
        visible = set()
        if ids:
            result = await datasette.get_database(database).execute(
                f"select id from {quote(col.references)} where id in ({', '.join('?' * len(ids))}) and {condition}", ids)
            visible = {row[0] for row in result.rows}
        return {key: label for key, label in labels.items() if key[1] in visible}

    datasette.expand_foreign_keys = visible_labels


# "Links from other tables" on a row page: core counts every referring row; a register read
# narrowed counts only the reader's. Patched once on the class (core has no hook there).
_core_foreign_key_tables = RowView.foreign_key_tables


async def _visible_foreign_key_tables(self, database, table, pk_values, *, actor):
    tables = await _core_foreign_key_tables(self, database, table, pk_values, actor=actor)
    for fk in tables:
        condition = rows_condition(actor, fk["other_table"])
        if condition is not None:
            result = await self.ds.databases[database].execute(
                f"select count(*) from {quote(fk['other_table'])} where {quote(fk['other_column'])} = ? and {condition}",
                [pk_values[0]])
            fk["count"] = result.first()[0]
    return tables


def _guard_counts(datasette, db) -> None:
    table_counts = db.table_counts

    async def visible_counts(limit=10):
        counts = await table_counts(limit)
        narrowed = [t for t in counts if (reg := definition().registers.get(t)) and reg.rows and reg.database == db.name]
        scope = _SCOPE.get()
        if not narrowed or scope is None:
            return counts
        actor = await resolve_actor(datasette, Request(scope, None))
        counts = dict(counts)   # core may keep its own
        for table in narrowed:
            condition = rows_condition(actor, table)
            if condition is not None:
                try:
                    result = await db.execute(f"select count(*) from (select 1 from {quote(table)} where {condition}"
                                              f" limit {db.count_limit + 1})", custom_time_limit=limit)
                    counts[table] = result.first()[0]
                except (QueryInterrupted, sqlite3.DatabaseError):   # as core: a count too slow is unknown
                    counts[table] = None
        return counts

    db.table_counts = visible_counts


@hookimpl
def startup(datasette):
    if not getattr(datasette, "_taizhang_row_access", False):
        _guard_resolve_row(datasette)
        _guard_labels(datasette)
        for name in definition().databases:
            if name in datasette.databases:
                _guard_counts(datasette, datasette.get_database(name))
        datasette._taizhang_row_access = True
    RowView.foreign_key_tables = _visible_foreign_key_tables


async def _autocomplete(datasette, request, database: str, table: str) -> Response | None:
    """Core's autocomplete answer for a narrowed reader, from their rows only; None to let core
    answer (every other reader, and those who may not read the register: core refuses them)."""
    reg = definition().registers.get(table)
    if reg is None or reg.database != database or database not in datasette.databases:
        return None
    actor = await resolve_actor(datasette, request)
    visible = rows_condition(actor, table, alias="t.")
    if visible is None or not await may(datasette, actor, "view-table", database, table):
        return None
    q = request.args.get("q") or ""
    try:
        initial = value_as_boolean(request.args.get("_initial") or "0")
    except ValueError:   # core's ValueAsBooleanError: not a yes/no word, so not asked for
        initial = False
    if not q and not initial:
        return Response.json({"ok": True, "rows": []})
    found = await choices.search(datasette.get_database(database), reg, q, limit=AUTOCOMPLETE_LIMIT, visible=visible)
    return Response.json({"ok": True, "rows": [{"pks": {"id": f["id"]}, "label": f["label"]} for f in found]},
                         headers={"Cache-Control": "no-store"})


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def row_access(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            match = AUTOCOMPLETE.match(scope.get("path", ""))
            if match and scope["method"] == "GET":
                answer = await _autocomplete(datasette, Request(scope, receive), match["database"], match["table"])
                if answer is not None:
                    return await answer.asgi_send(send)
            token = _SCOPE.set(scope)
            try:
                await app(scope, receive, send)
            finally:
                _SCOPE.reset(token)

        return row_access

    return wrap
