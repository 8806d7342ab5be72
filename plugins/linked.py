"""Linked records on a row page, from the definition's references: a meeting's resolutions
(with a form to add one in place), a partner's evaluations with the score trend, an employee's
training records with this year's hours, anyone's confidentiality agreements for hr/admin only
— every register that refers to the row, as far as the reader may read it."""

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, Response

from taizhang import clock
from taizhang import ids
from taizhang.schema import quote
from taizhang.web import definition, may, rows_condition

SHOWN = 20
# Columns shown for a linked row: its key and label, then status-like columns.
MAX_COLUMNS = 5
# Registers whose rows can be added from the page of the row they belong to.
ADD_IN_PLACE = {("meetings", "meeting_actions")}


async def _may(datasette, actor, action, reg) -> bool:
    return await may(datasette, actor, action, reg.database, reg.name)


def _columns(reg, via: str) -> list[str]:
    wanted = [*reg.natural_key, reg.label_column, *reg.facets, reg.sort_desc or reg.sort]
    return [c for c in dict.fromkeys(wanted) if c and c != via and c in reg.columns][:MAX_COLUMNS]


async def _labels(datasette, actor, reg, rows: list[dict], columns: list[str]) -> None:
    """Replace reference ids in the shown columns by the referenced row's label, in place —
    of a row the reader may see (row-level access): others keep their id."""
    for column in columns:
        col = reg.columns[column]
        if col.type != "fk":
            continue
        target = definition().registers[col.references]
        ids = sorted({r[column] for r in rows if r[column] is not None})
        if not ids:
            continue
        visible = rows_condition(actor, target.name)
        result = await datasette.get_database(target.database).execute(
            f"select id, {quote(target.label_column)} from {quote(target.name)} where id in ({', '.join('?' * len(ids))})"
            + (f" and {visible}" if visible else ""), ids)
        names = {row[0]: row[1] for row in result.rows}
        for r in rows:
            r[column] = names.get(r[column], r[column])


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
    await _labels(datasette, actor, reg, rows, columns)
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
                    section["add"] = (table, other.name) in ADD_IN_PLACE and await _may(datasette, request.actor, "insert-row", other)
                    section["via"] = col.name
                    sections.append(section)
            for column, ref in other.cross_references.items():   # hr.db rows naming this one by key
                if ref["register"] == table and values.get(ref["column"]) is not None:
                    section = await _section(datasette, request.actor, other, f"{quote(column)} = ?", values[ref["column"]], "")
                    section["title"] = other.label
                    sections.append(section)
        owners = []
        if any(s.get("add") for s in sections):
            result = await datasette.get_database("ops").execute(
                "select id, name, employee_no from employees where coalesce(status, '在职') != '离职' order by employee_no")
            owners = [dict(r) for r in result.rows]
        return await datasette.render_template(
            "_linked.html",
            {"sections": sections, "facts": await _extras(datasette, table, values), "row_id": values["id"],
             "database": database, "table": table, "owners": owners},
            request=request,
        )

    return inner


async def add_linked(request, datasette):
    """Add a resolution from its meeting's page: validated and audited like any write."""
    database, parent, child = request.url_vars["database"], request.url_vars["parent"], request.url_vars["child"]
    regs = definition().registers
    if (parent, child) not in ADD_IN_PLACE or request.method != "POST":
        raise Forbidden("不能在此添加")
    reg = regs[child]
    if not await _may(datasette, request.actor, "insert-row", reg):
        raise Forbidden("没有添加此类记录的权限")
    post = await request.post_vars()
    parent_id = ids.row_id(post.get("parent_id"))
    if parent_id is None:   # the page posts its row's id; anything else was not sent by it
        datasette.add_message(request, f"未能添加：「{(post.get('parent_id') or '')[:40]}」不是{regs[parent].label}的记录编号",
                              datasette.ERROR)
        return Response.redirect(datasette.urls.table(database, parent))
    via = next(c.name for c in reg.foreign_keys if c.references == parent)
    row = {via: parent_id, **{k: (v or None) for k, v in post.items() if k in reg.columns and k != via}}
    back = datasette.urls.row(database, parent, str(parent_id))
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
