"""`.xlsx` on every table, filtered view and report: the whole result (every page), in the
form taizhang/export.py describes, so an exported register re-imports with zero changes."""

import urllib.parse

from datasette import hookimpl
from datasette.utils.asgi import Response

from taizhang import export
from taizhang.web import definition

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A full export is every row of the view, fetched page by page; this bounds one download.
MAX_EXPORT_ROWS = 500_000


async def _all_rows(datasette, request) -> list[dict]:
    """Every row of this table view (its filters and search), as the asker may see them —
    paged by id: core's keyset paging on a sort column with NULLs skips rows."""
    path = request.path.rsplit(".xlsx", 1)[0] + ".json"
    args = [(k, v) for k, v in urllib.parse.parse_qsl(request.query_string, keep_blank_values=True)
            if k not in ("_next", "_size", "_shape", "_sort", "_sort_desc", "_col", "_nocol", "_labels", "_extra")]
    out, next_token = [], None
    while len(out) < MAX_EXPORT_ROWS:
        query = [*args, ("_sort", "id"), ("_size", "max"), ("_shape", "objects")]
        if next_token:
            query.append(("_next", next_token))
        response = await datasette.client.get(f"{path}?{urllib.parse.urlencode(query)}", actor=request.actor)
        page = response.json()
        out += page["rows"]   # whole rows: a file missing a column would clear it on re-import
        next_token = page.get("next")
        if not next_token:
            return out
    return out


async def render_xlsx(datasette, request, database, table, columns, rows, data, view_name, query_name):
    reg = definition().registers.get(table) if view_name == "table" else None
    if reg is not None:
        all_rows = await _all_rows(datasette, request)

        def build(conn):
            headers, body, dates = export.register_rows(conn, definition(), reg, all_rows)
            return export.workbook(reg.label, headers, body, dates)

        content = await datasette.get_database(database).execute_fn(build)
        name = reg.label
    else:
        body = [list(row) for row in rows]
        dates = {i for i in range(len(columns))
                 if body and all(v is None or (isinstance(v, str) and export.ISO_DATE.match(v)) for v in (r[i] for r in body))
                 and any(v for v in (r[i] for r in body))}
        title = query_name or table or database
        content = export.workbook(title, list(columns), body, dates)
        name = title
    filename = urllib.parse.quote(f"{name}.xlsx")
    return Response(content, content_type=XLSX,
                    headers={"content-disposition": f"attachment; filename*=UTF-8''{filename}"})


@hookimpl
def register_output_renderer(datasette):
    return {
        "extension": "xlsx",
        "render": render_xlsx,
        "can_render": lambda view_name: view_name in ("table", "database", "query"),
    }
