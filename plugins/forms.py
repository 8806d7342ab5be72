"""Register-aware forms: insert and edit a row with Chinese labels and help, required fields
marked, selects for enums and references (张三（00012）), date and number inputs with their
ranges, text areas for long text. Typed dates such as 2024/3/5 or 2024年3月5日 are accepted.
The database's rules decide (errors shown next to their field); an edit of a row someone changed
since the form was opened is refused with who and when, and can be overwritten on purpose."""

import sqlite3

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, NotFound, Response

from taizhang.conflicts import conflict
from taizhang.importer.values import CellError, parse_cell
from taizhang.schema import check_columns, quote
from taizhang.web import definition, may

# A reference select lists at most this many target rows (the registers it serves are small).
MAX_CHOICES = 2000


async def _check(datasette, request, database, table, action):
    reg = definition().registers.get(table)
    if reg is None or reg.database != database or not await may(datasette, request.actor, action, database, table):
        raise Forbidden("没有此操作的权限")
    return reg


async def _choices(datasette, reg) -> dict[str, list[tuple[int, str]]]:
    """For each reference column, (id, 'label（key）') of the rows it may point to."""
    out = {}
    for col in reg.foreign_keys:
        target = definition().registers[col.references]
        key = target.natural_key[0]
        rows = (await datasette.get_database(target.database).execute(
            f"select id, {quote(target.label_column)}, {quote(key)} from {quote(target.name)}"
            f" order by {quote(target.label_column)} limit {MAX_CHOICES}")).rows
        out[col.name] = [(r[0], r[1] if r[1] == r[2] else f"{r[1]}（{r[2]}）") for r in rows]
    return out


def _field_errors(message: str, reg) -> dict[str, str]:
    """Put a database refusal next to the field it is about (or at the top: key '')."""
    for sentence, columns in check_columns(reg).items():
        if message.startswith(sentence):
            return {columns[0]: message}
    for col in reg.columns.values():
        if message.startswith(col.label):
            return {col.name: message}
    return {"": message}


async def form(request, datasette):
    database, table = request.url_vars["database"], request.url_vars["table"]
    row_id = request.url_vars.get("row_id")
    reg = await _check(datasette, request, database, table, "update-row" if row_id else "insert-row")
    db = datasette.get_database(database)
    current = None
    if row_id:
        found = (await db.execute(f"select * from {quote(table)} where id = ?", [int(row_id)])).first()
        if found is None:
            raise NotFound("没有这条记录")
        current = dict(found)
    values = {c: (current or {}).get(c) for c in reg.columns}
    errors: dict[str, str] = {}
    conflict = None
    if request.method == "POST":
        post = await request.post_vars()
        for col in reg.columns.values():
            raw = post.get(col.name, "")
            if col.type == "fk":
                values[col.name] = int(raw) if raw.isdigit() else None
                continue
            try:   # the same reading of typed values as the import (2024/3/5, 是/否, ¥1,200 …)
                values[col.name] = parse_cell(col, raw)
            except CellError as ex:
                errors[col.name] = f"{ex.reason}。{ex.hint}"
                values[col.name] = raw
        if not errors:
            version = post.get("_version") if row_id and not post.get("_overwrite") else None
            try:
                await db.execute_write_fn(lambda conn: _save(conn, reg, row_id, values, version), request=request)
            except Exception as ex:  # constraint and conflict errors arrive as Chinese sentences
                message = str(ex)
                if message.startswith("此记录已被"):
                    conflict = message
                else:
                    errors = _field_errors(message, reg)
            else:
                datasette.add_message(request, f"已保存{reg.label}", datasette.INFO)
                target = row_id or (await db.execute(f"select max(id) from {quote(table)}")).first()[0]
                return Response.redirect(datasette.urls.row(database, table, str(target)))
    return Response.html(await datasette.render_template("form.html", {
        "reg": reg, "database": database, "table": table, "row_id": row_id, "values": values,
        "errors": errors, "conflict": conflict, "choices": await _choices(datasette, reg),
        "version": (current or {}).get("updated_at"),
    }, request=request))


def _save(conn, reg, row_id, values: dict, version: str | None) -> None:
    if row_id is None:
        cols = list(values)
        conn.execute(f"insert into {quote(reg.name)} ({', '.join(map(quote, cols))}) values ({', '.join('?' * len(cols))})",
                     list(values.values()))
        return
    if version is not None and (sentence := conflict(conn, reg.name, int(row_id), version)):
        raise sqlite3.IntegrityError(sentence)
    conn.execute(f"update {quote(reg.name)} set {', '.join(f'{quote(c)} = ?' for c in values)} where id = ?",
                 [*values.values(), int(row_id)])


@hookimpl
def register_routes():
    return [
        (r"^/-/form/(?P<database>[^/]+)/(?P<table>[^/]+)$", form),
        (r"^/-/form/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<row_id>\d+)$", form),
    ]


@hookimpl
def table_actions(datasette, actor, database, table, request):
    async def inner():
        reg = definition().registers.get(table)
        if reg is None or not await may(datasette, actor, "insert-row", database, table):
            return []
        return [{"href": datasette.urls.path(f"/-/form/{database}/{table}"), "label": f"新增{reg.label}（表单）"}]

    return inner


@hookimpl
def row_actions(datasette, actor, request, database, table, row):
    async def inner():
        reg = definition().registers.get(table)
        if reg is None or not await may(datasette, actor, "update-row", database, table):
            return []
        return [{"href": datasette.urls.path(f"/-/form/{database}/{table}/{row['id']}"), "label": "编辑（表单）"}]

    return inner
