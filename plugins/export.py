"""`.xlsx` on every table, filtered view and report: the whole result (every page), in the
form taizhang/export.py describes, so an exported register re-imports with zero changes."""

import csv
import io
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


def _safe_csv(body: bytes, bom: bool) -> bytes:
    """Core's CSV with every text cell that Excel would evaluate neutralised (a leading
    apostrophe), and optionally a UTF-8 BOM so Excel opens Chinese text correctly."""
    text = body.decode("utf-8")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in csv.reader(io.StringIO(text, newline="")):
        writer.writerow([export.neutralise(cell) for cell in row])
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8")


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def csv_for_excel(scope, receive, send):
            if scope["type"] != "http" or not scope["path"].endswith(".csv"):
                return await app(scope, receive, send)
            query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
            bom = query.get("_bom", ["0"])[0] in ("1", "on", "true")
            start, chunks = {}, []

            async def collect(message):
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body"):
                        body = b"".join(chunks)
                        if start.get("status") == 200:
                            body = _safe_csv(body, bom)
                        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                        await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
                        await send({"type": "http.response.body", "body": body})

            await app(scope, receive, collect)

        return csv_for_excel

    return wrap
