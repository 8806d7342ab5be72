"""Meeting minutes (columns marked `markdown: true`) written in Markdown: rendered on row pages
(render_cell; the table grid keeps core's short plain text) and previewed while typing in the
form (POST /-/markdown, JSON {"text": …} -> {"html": …}).

Inert by construction rather than by cleaning afterwards: raw HTML is never parsed (it shows
as text), links only to http, https and mailto addresses or relative ones (no javascript:,
data:, vbscript:), no autolinking; an image becomes a plain link with its alt text, so opening
a minute never loads anything from elsewhere."""

import html
import json

from datasette import hookimpl
from datasette.utils.asgi import PayloadTooLarge, Response
from markdown_it import MarkdownIt
from markupsafe import Markup

from taizhang.web import definition

ALLOWED_SCHEMES = ("http", "https", "mailto")
# A preview of more than this is refused (minutes are a few pages at most).
MAX_TEXT = 200_000


def _safe_link(url: str) -> bool:
    # Browsers ignore control characters and spaces inside a scheme ("java\tscript:"): so
    # does this check, before looking at what precedes the first ":".
    cleaned = "".join(ch for ch in url if ch > " ").lower()
    head = cleaned.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return ":" not in head or head.split(":", 1)[0] in ALLOWED_SCHEMES


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "breaks": True})
    md.enable(["table", "strikethrough"])
    md.validateLink = _safe_link

    def image(renderer, tokens, idx, options, env):
        token = tokens[idx]
        alt = renderer.renderInlineAsText(token.children or [], options, env) or "图片"
        return f'<a href="{html.escape(token.attrGet("src") or "")}" rel="nofollow noopener">{html.escape(alt)}</a>'

    def link_open(renderer, tokens, idx, options, env):
        tokens[idx].attrSet("rel", "nofollow noopener")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("image", image)
    md.add_render_rule("link_open", link_open)
    return md


MD = _renderer()


def render(text) -> str:
    return MD.render(str(text or ""))


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
