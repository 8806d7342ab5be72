"""Linked records on a row page, from the definition's references: a meeting's resolutions, a
task's progress notes, a customer's visits (each with a form to add one in place: every register
with `parent:` in db/registers.yml), a partner's evaluations with the score trend, an employee's
training records with this year's hours, anyone's confidentiality agreements for hr/admin only
— every register that refers to the row, as far as the reader may read it.

The add-in-place form is the register form's fields (templates/_field.html: the same widgets,
the same browser checks from the child register's rules) and its values are read as the form
reads them; the database's rules decide."""

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, Response

from taizhang import choices, clock
from taizhang import ids
from taizhang.importer.values import CellError, parse_cell
from taizhang.schema import quote
from taizhang.shown import reference_labels
from taizhang.web import definition, may, rows_condition

SHOWN = 20
# Columns shown for a linked row: its key and label, then status-like columns.
MAX_COLUMNS = 5
# A reference select of the add form lists at most this many rows (the picker searches them all).
MAX_CHOICES = 2000


async def _may(datasette, actor, action, reg) -> bool:
    return await may(datasette, actor, action, reg.database, reg.name)


def _columns(reg, via: str) -> list[str]:
    wanted = [*reg.natural_key, reg.label_column, *reg.facets, reg.sort_desc or reg.sort]
    return [c for c in dict.fromkeys(wanted) if c and c != via and c in reg.columns][:MAX_COLUMNS]


async def _section(datasette, actor, reg, where: str, value, via: str) -> dict:
    columns = _columns(reg, via)
    visible = rows_condition(actor, reg.name)   # a narrowed register: the reader's rows only
    if visible:
        where = f"({where}) and {visible}"
    order = f"{quote(reg.sort_desc)} desc" if reg.sort_desc else quote(reg.sort or "id")
    db = datasette.get_database(reg.database)
    count = (await db.execute(f"select count(*) from {quote(reg.name)} where {where}", [value])).first()[0]
    result = await db.execute(
        f"select id, {', '.join(map(quote, columns))} from {quote(reg.name)} where {where} order by {order} limit {SHOWN}", [value])
    rows = [dict(r) for r in result.rows]
    await reference_labels(datasette, actor, reg, rows, columns)
    return {"reg": reg, "count": count, "rows": rows, "columns": [(c, reg.columns[c].label) for c in columns],
            "url": datasette.urls.table(reg.database, reg.name) + f"?{via}={value}" if via else None}


async def _extras(datasette, table: str, row: dict) -> list[str]:
    """One-line facts a row page of this register shows above its linked records."""
    db = datasette.get_database("ops")
    if table == "employees":
        year = clock.today().strftime("%Y")
        hours = (await db.execute(
            "select coalesce(sum(s.hours), 0) from training_records r join training_sessions s on s.id = r.session_id"
            " where r.employee_id = ? and coalesce(r.attendance, '已参加') = '已参加' and strftime('%Y', s.starts_on) = ?",
            [row["id"], year])).first()[0]
        return [f"{year} 年已参加培训 {hours:g} 学时"]
    if table == "partners":
        scores = (await db.execute(
            "select period, total_score from partner_evaluations where partner_id = ? and total_score is not null"
            " order by evaluated_on, id", [row["id"]])).rows
        facts = []
        if scores:
            facts.append("综合得分走势：" + " → ".join(f"{p} {s:g}" for p, s in scores[-6:]))
        if row.get("agreement_start") or row.get("agreement_end"):
            facts.append(f"合作协议：{row.get('agreement_start') or '？'} 至 {row.get('agreement_end') or '？'}")
        return facts
    if table == "customers" and row.get("tier_id"):
        tier = (await db.execute("select name, follow_up_days from customer_tiers where id = ?", [row["tier_id"]])).first()
        if tier:
            visit = row.get("last_visit_on") or "从未回访"
            return [f"客户层级：{tier[0]}，回访周期 {tier[1] or '—'} 天；最近回访：{visit}"]
    return []


@hookimpl
def top_row(datasette, request, database, table, row):
    reg = definition().registers.get(table)
    if reg is None or reg.database != database:
        return None

    async def inner():
        values = dict(row) if not isinstance(row, dict) else row
        sections = []
        for other in definition().registers.values():
            if not await _may(datasette, request.actor, "view-table", other):
                continue
            for col in other.foreign_keys:
                if col.references == table:
                    section = await _section(datasette, request.actor, other, f"{quote(col.name)} = ?", values["id"], col.name)
                    section["title"] = f"{other.label}（{col.label}）"
                    section["add"] = other.parent == col.name and await _may(datasette, request.actor, "insert-row", other)
                    section["via"] = col.name
                    if section["add"]:
                        section["choices"] = await _choices(datasette, other)
                    sections.append(section)
            for column, ref in other.cross_references.items():   # hr.db rows naming this one by key
                if ref["register"] == table and values.get(ref["column"]) is not None:
                    section = await _section(datasette, request.actor, other, f"{quote(column)} = ?", values[ref["column"]], "")
                    section["title"] = other.label
                    sections.append(section)
        return await datasette.render_template(
            "_linked.html",
            {"sections": sections, "facts": await _extras(datasette, table, values), "row_id": values["id"],
             "database": database, "table": table},
            request=request,
        )

    return inner


async def _choices(datasette, reg) -> dict[str, list[tuple[int, str]]]:
    """(id, '张三（00012）· 市场部') for each reference of the add form but its parent: the plain
    select the picker stands on."""
    out = {}
    for col in reg.foreign_keys:
        if col.name != reg.parent:
            target = definition().registers[col.references]
            found = await choices.search(datasette.get_database(target.database), target, limit=MAX_CHOICES)
            out[col.name] = [(c["id"], c["label"]) for c in found]
    return out


def _read(reg, post) -> tuple[dict, list[str]]:
    """The posted fields as the register stores them, and a sentence for each that cannot be."""
    row, errors = {}, []
    for col in reg.columns.values():
        raw = post.get(col.name, "")
        if col.name == reg.parent or not raw.strip():
            continue
        if col.type == "fk":   # the select (or the picker) posts the target row's id
            row[col.name] = ids.row_id(raw)
            if row[col.name] is None:
                target = definition().registers[col.references].label
                errors.append(f"{col.label}：「{raw[:40]}」不是{target}的记录编号，请从列表中选择")
            continue
        try:   # the same reading as the form and the import (2024/3/5, 2026/12/2 9:30, 是/否 …)
            row[col.name] = parse_cell(col, raw)
        except CellError as ex:
            errors.append(f"{col.label}：{ex.reason}。{ex.hint}")
    return row, errors


async def add_linked(request, datasette):
    """Add a child row (a resolution, a progress note, a visit) from its parent's page:
    read like the register form, validated and audited like any write."""
    database, parent, child = request.url_vars["database"], request.url_vars["parent"], request.url_vars["child"]
    reg = definition().registers.get(child)
    if request.method != "POST" or reg is None or reg.database != database or reg not in definition().children(parent):
        raise Forbidden("不能在此添加")
    if not await _may(datasette, request.actor, "insert-row", reg):
        raise Forbidden("没有添加此类记录的权限")
    post = await request.post_vars()
    parent_id = ids.row_id(post.get("parent_id"))
    if parent_id is None:   # the page posts its row's id; anything else was not sent by it
        label = definition().registers[parent].label
        datasette.add_message(request, f"未能添加：「{(post.get('parent_id') or '')[:40]}」不是{label}的记录编号",
                              datasette.ERROR)
        return Response.redirect(datasette.urls.table(database, parent))
    row, errors = _read(reg, post)
    row = {reg.parent: parent_id, **row}
    back = datasette.urls.row(database, parent, str(parent_id))
    if errors:
        datasette.add_message(request, "未能添加：" + "；".join(errors), datasette.ERROR)
        return Response.redirect(back)
    try:
        await datasette.get_database(reg.database).execute_write_fn(
            lambda conn: conn.execute(
                f"insert into {quote(child)} ({', '.join(map(quote, row))}) values ({', '.join('?' * len(row))})",
                list(row.values())),
            request=request)
    except Exception as ex:  # constraint errors arrive as Chinese sentences (plugins/integrity.py)
        datasette.add_message(request, f"未能添加：{ex}", datasette.ERROR)
        return Response.redirect(back)
    datasette.add_message(request, f"已添加{reg.label}", datasette.INFO)
    return Response.redirect(back)


@hookimpl
def register_routes():
    return [(r"^/-/linked/(?P<database>[^/]+)/(?P<parent>[^/]+)/(?P<child>[^/]+)/add$", add_linked)]
