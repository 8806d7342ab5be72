"""Markdown (columns marked `markdown: true`, meeting minutes) rendered inert by construction
rather than by cleaning afterwards: raw HTML is never parsed (it shows as text), links only to
http, https and mailto addresses or relative ones (no javascript:, data:, vbscript:), no
autolinking; an image becomes a plain link with its alt text, so opening a minute never loads
anything from elsewhere. Used by row pages, the form's preview (plugins/markdown.py) and the
printable documents (plugins/printing.py)."""

import html

from markdown_it import MarkdownIt

ALLOWED_SCHEMES = ("http", "https", "mailto")


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
