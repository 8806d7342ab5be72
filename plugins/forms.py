"""Register-aware forms: insert and edit a row with Chinese labels and help, required fields
marked, selects for enums, a searchable picker for references (张三（00012）· 市场部; a plain
select without JavaScript), date and number inputs with their ranges, text areas for long text
and a Markdown preview for minutes. Typed dates such as 2024/3/5 or 2024年3月5日 are accepted.

The browser checks each field from the register's rules (taizhang/client_rules.py, static/rules.js)
with the database's own sentences; the database's rules still decide (errors shown next to their
field). An edit of a row someone changed since the form was opened is refused with who, when and
what changed, and can be reloaded or overwritten on purpose.

The same rules and scripts go to the register's table and row pages, where static/forms.js makes
core's insert/edit dialog register-aware through its JS plugin API."""

import json
import sqlite3

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, NotFound, Response

from taizhang import choices
from taizhang.client_rules import register_rules
from taizhang.conflicts import Stale, changed_since
from taizhang.i18n import localise
from taizhang import ids
from taizhang.importer.values import CellError, parse_cell
from taizhang.messages import refusal_of
from taizhang.schema import quote
from taizhang.web import definition, language_of, may, row_visible, rows_condition

# A reference select lists at most this many target rows (the registers it serves are small).
MAX_CHOICES = 2000


async def _check(datasette, request, database, table, action):
    reg = definition().registers.get(table)
    if reg is None or reg.database != database or not await may(datasette, request.actor, action, database, table):
        raise Forbidden("没有此操作的权限")
    return reg


async def _choices(datasette, actor, reg) -> dict[str, list[tuple[int, str]]]:
    """For each reference column, (id, '张三（00012）· 市场部') of the rows it may point to: the
    select that works without JavaScript (forms.js turns it into the searchable picker) — of a
    narrowed register, the reader's rows only."""
    out = {}
    for col in reg.foreign_keys:
        target = definition().registers[col.references]
        found = await choices.search(datasette.get_database(target.database), target, limit=MAX_CHOICES,
                                     visible=rows_condition(actor, target.name, alias="t."))
        out[col.name] = [(c["id"], c["label"]) for c in found]
    return out


def _shown(col, value, options: dict) -> str:
    """A value as a person reads it in the conflict table."""
    if value is None or value == "":
        return "（空）"
    if col.type == "fk":
        return dict(options.get(col.name, [])).get(value, str(value))
    if col.type == "bool":
        return {1: "是", 0: "否"}.get(value, str(value))
    return str(value)


def _differences(reg, saved: dict, mine: dict, options: dict) -> list[tuple[str, str, str]]:
    """(field, the value the other person saved, my value) for every field where they differ."""
    def same(a, b):   # an empty text box and an empty field are the same
        return (None if a == "" else a) == (None if b == "" else b)

    return [(col.label, _shown(col, saved.get(col.name), options), _shown(col, mine.get(col.name), options))
            for col in reg.columns.values() if not same(saved.get(col.name), mine.get(col.name))]


def _field_errors(ex: Exception, reg) -> dict[str, str]:
    """Put a database refusal next to the field it is about (or at the top: key '')."""
    message = str(ex)
    refusal = refusal_of(ex)
    if refusal is not None:
        column = next((c for c in refusal.columns if c in reg.columns), "")
        return {column: message}
    return {"": message}   # a step of a process, a busy database: about the whole record


async def form(request, datasette):
    database, table = request.url_vars["database"], request.url_vars["table"]
    row_id = request.url_vars.get("row_id")
    reg = await _check(datasette, request, database, table, "update-row" if row_id else "insert-row")
    db = datasette.get_database(database)
    current = None
    if row_id:
        found = (await db.execute(f"select * from {quote(table)} where id = ?", [int(row_id)])).first()
        if found is None or not await row_visible(datasette, request.actor, database, table, int(row_id)):
            raise NotFound("没有这条记录")   # a row outside the reader's scope: the same answer
        current = dict(found)
    values = {c: (current or {}).get(c) for c in reg.columns}
    errors: dict[str, str] = {}
    conflict = None
    differences = []
    version = (current or {}).get("updated_at")
    options = await _choices(datasette, request.actor, reg)
    if request.method == "POST":
        post = await request.post_vars()
        for col in reg.columns.values():
            raw = post.get(col.name, "")
            if col.type == "fk":   # the select (or the picker) posts the target row's id
                values[col.name] = ids.row_id(raw) if raw else None
                if raw and values[col.name] is None:
                    label = definition().registers[col.references].label
                    errors[col.name] = f"「{raw[:40]}」不是{label}的记录编号，请从列表中选择"
                    values[col.name] = raw
                continue
            try:   # the same reading of typed values as the import (2024/3/5, 是/否, ¥1,200 …)
                values[col.name] = parse_cell(col, raw)
            except CellError as ex:
                errors[col.name] = f"{ex.reason}。{ex.hint}"
                values[col.name] = raw
        if not errors:
            read = post.get("_version") if row_id and not post.get("_overwrite") else None
            try:
                saved_id = await db.execute_write_fn(lambda conn: _save(conn, reg, row_id, values, read), request=request)
            except Stale as stale:
                # The API's advice (If-Match) means nothing here: the form has its own buttons.
                conflict = stale.changed
                saved = (await db.execute(f"select * from {quote(table)} where id = ?", [int(row_id)])).first()
                if saved is None:   # deleted in the meantime
                    raise NotFound("这条记录已被删除")
                differences = _differences(reg, dict(saved), values, options)
                # A plain 保存 stays refused until the person chooses: reload or overwrite.
                version = read
            except Exception as ex:  # constraint errors arrive as Chinese sentences, typed
                errors = _field_errors(ex, reg)
            else:
                datasette.add_message(request, f"已保存{reg.label}", datasette.INFO)
                return Response.redirect(datasette.urls.row(database, table, str(saved_id)))
    return Response.html(await datasette.render_template("form.html", {
        "reg": reg, "database": database, "table": table, "row_id": row_id, "values": values,
        "errors": errors, "conflict": conflict, "differences": differences, "choices": options,
        "version": version,
    }, request=request))


def _save(conn, reg, row_id, values: dict, version: str | None) -> int:
    """Insert or update the row; its id (this insert's own, not the newest row's)."""
    if row_id is None:
        cols = list(values)
        return conn.execute(
            f"insert into {quote(reg.name)} ({', '.join(map(quote, cols))}) values ({', '.join('?' * len(cols))})",
            list(values.values())).lastrowid
    if version is not None and (changed := changed_since(conn, reg.name, int(row_id), version)):
        raise Stale(changed)
    updated = conn.execute(f"update {quote(reg.name)} set {', '.join(f'{quote(c)} = ?' for c in values)} where id = ?",
                           [*values.values(), int(row_id)])
    if updated.rowcount == 0:
        raise sqlite3.IntegrityError(f"这条{reg.label}记录已被删除，未能保存")
    return int(row_id)


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


async def _rules_for(datasette, request, database, table) -> dict | None:
    """The register's rules, for someone who may add or edit its rows (else None)."""
    reg = definition().registers.get(table or "")
    if reg is None or reg.database != database or request is None or request.actor is None:
        return None
    for action in ("insert-row", "update-row"):
        if await may(datasette, request.actor, action, database, table):
            return register_rules(reg)
    return None


async def _linked_rules(datasette, request, database, table) -> dict[str, dict]:
    """The rules of the child registers a row page offers to add in place (plugins/linked.py:
    every register whose `parent:` refers to this one), for someone who may add their rows."""
    out = {}
    if request is None or request.actor is None:
        return out
    for reg in definition().children(table or ""):
        if reg.database == database and await may(datasette, request.actor, "insert-row", reg.database, reg.name):
            out[reg.name] = register_rules(reg)
    return out


def _scripted(template, view_name) -> bool:
    return view_name in ("table", "row") or template == "form.html"


@hookimpl
def extra_body_script(template, database, table, view_name, request, datasette):
    if not _scripted(template, view_name):
        return None

    async def inner():
        rules = await _rules_for(datasette, request, database, table)
        linked = await _linked_rules(datasette, request, database, table) if view_name == "row" else {}
        if rules is None and not linked:
            return ""
        # "</" escaped: a value in the rules can never end the script element.
        language = await language_of(datasette, request)
        rules, linked = localise(rules, language), {name: localise(r, language) for name, r in linked.items()}
        data = json.dumps({"rules": rules, "linked": linked, "base": datasette.urls.path("/")},
                          ensure_ascii=False).replace("</", "<\\/")
        return f"window.taizhangForms = {data};"

    return inner


@hookimpl
def extra_js_urls(template, view_name, request, datasette):
    # Row pages too without write access to the register: the linked-records add form
    # (templates/_linked.html) uses the picker.
    if not _scripted(template, view_name) or request is None or request.actor is None:
        return []
    return [datasette.urls.path("/assets/rules.js"), datasette.urls.path("/assets/forms.js")]


@hookimpl
def extra_css_urls(template, view_name, request, datasette):
    if not _scripted(template, view_name) or request is None or request.actor is None:
        return []
    return [datasette.urls.path("/assets/forms.css")]
