"""仪表盘 (/-/dashboard): the state of the department at a glance, for each reader over what
they may read — the registers their role reads, narrowed to their rows where the register says
so (the same condition as the table pages, so a chart's count is the count its link shows).
The SQL comes from the definition (taizhang/dashboard.py); Chart.js, served from /assets/vendor
(no CDN: the machines have no internet), draws the trends."""

import json
import sqlite3

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.utils.asgi import Response

from taizhang import dashboard, due
from taizhang.row_access import NONE
from taizhang.web import definition, may, may_query, rows_condition


async def _rows(datasette, database: str, sql: str, params: dict | None = None) -> list[dict] | None:
    """The rows, or None when the query failed (one slow register must not take the page down)."""
    try:
        result = await datasette.get_database(database).execute(sql, params or {})
    except (QueryInterrupted, sqlite3.Error):
        return None
    return [dict(r) for r in result.rows]


async def _readable(datasette, actor) -> dict:
    """register name -> the condition over row t for the reader's rows (None: every row)."""
    out = {}
    for reg in definition().registers.values():
        if await may(datasette, actor, "view-table", reg.database, reg.name):
            where = rows_condition(actor, reg.name, "t.")
            if where != NONE:
                out[reg.name] = where
    return out


async def _processes(datasette, readable: dict) -> list[dict]:
    out = []
    for name, where in readable.items():
        reg = definition().registers[name]
        if not reg.workflow:
            continue
        rows = await _rows(datasette, reg.database, dashboard.state_counts_sql(reg, where))
        counts = {r["state"]: r["n"] for r in rows or ()}
        out.append({"reg": reg, "url": datasette.urls.table(reg.database, name), "failed": rows is None,
                    "states": dashboard.states(reg, counts), "total": sum(counts.values())})
    return out


async def _deadlines(datasette, actor, readable: dict) -> list[dict]:
    out = []
    params = due.params()
    for reg in due.registers_with_due(definition()):
        if reg.name not in readable:
            continue
        rows = await _rows(datasette, reg.database, dashboard.due_counts_sql(definition(), reg, readable[reg.name]), params)
        found = rows[0] if rows else {"overdue": 0, "soon": 0}
        if rows is None or found["overdue"] or found["soon"]:
            report = due.report_name(reg)
            out.append({"reg": reg, "failed": rows is None, **found,
                        "url": datasette.urls.table(reg.database, reg.name),
                        "report_url": datasette.urls.query(reg.database, report)
                        if await may_query(datasette, actor, reg.database, report) else None})
    return out


async def _charts(datasette, readable: dict) -> list[dict]:
    out = []
    for number, chart in enumerate(definition().charts):
        if chart.register not in readable:
            continue
        reg = definition().registers[chart.register]
        rows = await _rows(datasette, reg.database, dashboard.chart_sql(definition(), chart, readable[chart.register]))
        data = dashboard.chart_data(definition(), chart, rows or [])
        out.append({"id": f"chart-{number}", "chart": chart, "reg": reg, "failed": rows is None,
                    "url": datasette.urls.table(reg.database, reg.name), "data": data,
                    "empty": not any(v for d in data["datasets"] for v in d["data"])})
    return out


async def dashboard_page(request, datasette):
    actor = request.actor
    if not actor or not actor.get("roles"):
        return Response.redirect(datasette.urls.path("/-/login?next=/-/dashboard"))
    readable = await _readable(datasette, actor)
    charts = await _charts(datasette, readable)
    drawn = {c["id"]: {"kind": c["chart"].kind, "url": c["url"], "whole": c["chart"].measure == "count", **c["data"]} for c in charts if not c["empty"]}
    return Response.html(await datasette.render_template("dashboard.html", {
        "processes": await _processes(datasette, readable),
        "deadlines": await _deadlines(datasette, actor, readable),
        "charts": charts,
        # inside <script type="application/json">: "</" must not close the element
        "charts_json": json.dumps(drawn, ensure_ascii=False).replace("</", "<\\/"),
    }, request=request))


@hookimpl
def register_routes():
    return [(r"^/-/dashboard$", dashboard_page)]


@hookimpl
def menu_links(datasette, actor, request):
    if actor and actor.get("roles"):
        return [{"href": datasette.urls.path("/-/dashboard"), "label": "仪表盘"}]
    return None
