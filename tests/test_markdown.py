"""Meeting minutes in Markdown: rendered on row pages (the table grid keeps the stored text) and previewed in the form,
inert whatever is typed — no script, no event handler, no javascript:/data: link, no image load."""

from html.parser import HTMLParser

import pytest

from tests.conftest import actor

pytestmark = pytest.mark.fast

XSS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "![x](https://evil.example/x.png \"t\" onerror=alert(1))",
    '![a" onerror="alert(1)](x.png)',
    "![x](javascript:alert(1))",
    "[点我](javascript:alert(1))",
    "[点我](JaVaScRiPt:alert(1))",
    "[点我](java\tscript:alert(1))",
    "[点我](&#106;avascript:alert(1))",
    "[点我](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[点我](vbscript:msgbox(1))",
    "<javascript:alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<iframe src=//evil.example></iframe>",
    "<svg onload=alert(1)>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    '[x](https://ok.example/" onmouseover="alert(1))',
    "<details open ontoggle=alert(1)>",
    "```html\n<script>alert(1)</script>\n```",
]
ALLOWED_TAGS = {"p", "a", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre",
                "blockquote", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "s", "div"}


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    parser = Tags()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag in ALLOWED_TAGS, (tag, html)
        assert set(attrs) <= {"href", "rel", "class", "style", "start"}, (attrs, html)
        if "style" in attrs:   # table alignment only
            assert attrs["style"].startswith("text-align:"), html
        href = attrs.get("href", "")
        scheme = href.split(":", 1)[0].lower() if ":" in href.split("/", 1)[0] else ""
        assert scheme in ("", "http", "https", "mailto"), html


@pytest.mark.asyncio
@pytest.mark.parametrize("text", XSS)
async def test_preview_is_inert(empty_ds, text):
    response = await empty_ds.client.post("/-/markdown", json={"text": text}, actor=actor("editor"))
    assert response.status_code == 200
    assert_inert(response.json()["html"])


@pytest.mark.asyncio
async def test_preview_renders_markdown(empty_ds):
    text = "# 决议\n\n- **预算**按季度复核\n- 详见 [制度](https://example.com/a) 或 [邮件](mailto:ops@example.com)\n\n![图](https://example.com/a.png)"
    html = (await empty_ds.client.post("/-/markdown", json={"text": text}, actor=actor("editor"))).json()["html"]
    assert "<h1>决议</h1>" in html and "<strong>预算</strong>" in html
    assert '<a href="https://example.com/a" rel="nofollow noopener">制度</a>' in html and 'href="mailto:ops@example.com"' in html
    assert "<img" not in html and '<a href="https://example.com/a.png" rel="nofollow noopener">图</a>' in html


@pytest.mark.asyncio
async def test_preview_answers_in_chinese(empty_ds):
    assert (await empty_ds.client.post("/-/markdown", json={"text": "x"})).status_code == 403
    wrong = await empty_ds.client.get("/-/markdown", actor=actor("viewer"))
    assert wrong.status_code == 405 and "POST" in wrong.json()["error"]
    bad = await empty_ds.client.post("/-/markdown", json={"text": 5}, actor=actor("viewer"))
    assert bad.status_code == 400 and "字符串" in bad.json()["error"]
    huge = await empty_ds.client.post("/-/markdown", json={"text": "字" * 400_000}, actor=actor("viewer"))
    assert huge.status_code == 400 and "不超过" in huge.json()["error"]   # refused before all of it is read


@pytest.mark.asyncio
async def test_minutes_rendered_on_row_pages_and_typed_in_the_grid(empty_ds):
    minutes = "## 结论\n\n1. 通过预算\n2. <script>alert('x')</script> [链接](javascript:alert(1))"
    await empty_ds.client.post("/ops/meetings/-/insert", json={"row": {
        "title": "周会", "held_on": "2026-11-20", "minutes": minutes, "agenda": "# 不是 Markdown 列"}}, actor=actor("admin"))
    page = (await empty_ds.client.get("/ops/meetings/1", actor=actor("viewer"))).text
    assert '<div class="markdown-cell"><h2>结论</h2>' in page
    assert "<li>通过预算</li>" in page and "&lt;script&gt;" in page
    assert "<script>alert" not in page and 'href="javascript' not in page
    assert "<h1>不是 Markdown 列</h1>" not in page   # only columns marked markdown
    grid = (await empty_ds.client.get("/ops/meetings", actor=actor("viewer"))).text
    assert "## 结论" in grid and "markdown-cell" not in grid   # the grid shows (and edits) the text as typed
    assert "<script>alert" not in grid
    csv = (await empty_ds.client.get("/ops/meetings.csv", actor=actor("viewer"))).text
    assert "## 结论" in csv   # exports keep the text as typed
