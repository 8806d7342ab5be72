"""Meeting minutes (columns marked `markdown: true`) written in Markdown: rendered on row pages
(render_cell; the table grid keeps core's short plain text) and previewed while typing in the
form (POST /-/markdown, JSON {"text": …} -> {"html": …}); inert by construction
(taizhang/markdown.py)."""

import json

from datasette import hookimpl
from datasette.utils.asgi import PayloadTooLarge, Response
from markupsafe import Markup

from taizhang.markdown import render
from taizhang.web import definition

# A preview of more than this is refused (minutes are a few pages at most).
MAX_TEXT = 200_000


def _markdown_column(table: str, column: str) -> bool:
    reg = definition().registers.get(table or "")
    return bool(reg and column in reg.columns and reg.columns[column].markdown)


@hookimpl
def render_cell(value, column, table, database, datasette, request):
    # Row pages only: the table grid keeps core's short plain text (a page of rendered minutes
    # would be a wall of headings, and the grid edits the stored text, not its rendering).
    on_row_page = request is not None and "pks" in request.url_vars
    if not on_row_page or not isinstance(value, str) or not _markdown_column(table, column):
        return None
    return Markup(f'<div class="markdown-cell">{render(value)}</div>')


async def preview(request, datasette):
    # Only people signed in: the endpoint reads nothing, but anonymous pages stay few.
    if request.actor is None:
        return Response.json({"ok": False, "error": "请先登录"}, status=403)
    if request.method != "POST":
        return Response.json({"ok": False, "error": "请用 POST 提交要预览的文本"}, status=405)
    try:
        # Read no more than a text of MAX_TEXT characters can take (4 bytes each, with room for JSON).
        text = json.loads((await request.post_body(max_bytes=MAX_TEXT * 4 + 1024)) or b"{}").get("text", "")
    except (ValueError, AttributeError):   # not JSON, or not an object
        return Response.json({"ok": False, "error": "请求应为 JSON：{\"text\": \"…\"}"}, status=400)
    except PayloadTooLarge:
        text = None
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        return Response.json({"ok": False, "error": f"预览的文本应为不超过 {MAX_TEXT} 字的字符串"}, status=400)
    return Response.json({"ok": True, "html": render(text)})


@hookimpl
def register_routes():
    return [(r"^/-/markdown$", preview)]
