"""The interface language (plugins/language.py, taizhang/i18n.py, db/translations.yml).

The main test renders every HTML page the app serves (the route sweep's list, plus the pages
staff use with filters, facets, errors …) in 简体 and 繁體 and fails naming each English text
still visible: a string core adds or changes in a Datasette upgrade shows up here by name, to
be added to db/translations.yml."""

import gzip
import re
from html.parser import HTMLParser

import pytest
import pytest_asyncio

from taizhang import demo, i18n
from taizhang.app import make_datasette
from taizhang.datadir import REPO, DataDir, init
from taizhang.registers import load
from tests.conftest import ROLES, TODAY
from tests.test_sweep import EXTRA_URLS, ROUTES

pytestmark = pytest.mark.fast
PASSWORD = "Lang-pass-123"

# English that may stay on a Chinese page, and why.
ALLOWED = {
    # names of products, formats and standards: written so in Chinese text too
    "Datasette", "SQLite", "SQL", "Excel", "CSV", "JSON", "XLSX", "xlsx", "API", "ID", "Markdown",
    "UTC", "HH", "MM", "YYYY", "DD", "URL", "Bearer", "Authorization", "English", "GitHub", "TSV", "BOM",
    "OpenCC", "FTS", "Ctrl", "Shift", "Tab", "Enter", "Esc", "MB", "KB", "GET", "POST", "HTTP",
    # values that are data in the demo registers (quarter names, sample codes, e-mail addresses)
    "Q1", "Q2", "Q3", "Q4", "BM", "HT", "MT", "CT", "example", "com",
}

# Every stored query in Datasette's HTML, and the pages staff use with their options on.
STAFF_PAGES = [
    "/ops/partners?_facet=category&_facet=status&_sort=name&category=供应商",
    "/ops/partners?_sort_desc=agreement_end&status__contains=合作&_search=公司",
    "/ops/customers?_next=50", "/ops/customers?_facet=tier_id&_size=10",
    "/ops/meetings", "/ops/meetings/1", "/ops/partners/1", "/ops/employees/1", "/ops/customers/1",
    "/ops", "/hr", "/ops?sql=select+name,+category+from+partners+limit+3",
    "/-/form/ops/partners", "/-/form/ops/meetings/1", "/-/import/ops/customers",
    "/-/history", "/-/history/ops/partners", "/-/history/ops/partners/1",
    "/-/account", "/-/users", "/-/language", "/-/search?q=预算", "/",
    "/no-such-page", "/ops/no_such_table", "/ops/partners/999999",    # 404
    "/ops/partners?_sort=no_such_column",                               # 400
    "/ops/-/query?sql=select+nonsense",                                  # 400: SQL error
]
FORBIDDEN_PAGES = ["/hr", "/hr/confidentiality_agreements", "/-/users"]   # 403 for a viewer


def html_get_urls() -> list[str]:
    urls = {u for us in ROUTES.values() for u in us} | set(EXTRA_URLS) | set(STAFF_PAGES)
    # Not pages: files, JSON, CSV and the like pass through the rewrite untouched (tested below).
    # /-/patterns is core's design reference: it renders Datasette's own English fixture data
    # (roadside attractions), is for administrators only and shows nothing of ours.
    return sorted(u for u in urls if u != "/-/patterns"
                  and not re.search(r"\.(json|csv|xlsx|db|md|ico|css|js)(\?|$)|/-/static/", u))


# -- what a reader sees (the standard library's parser, not the rewrite's own tokenizer) -------
SKIPPED = {"script", "style", "textarea", "pre", "code", "kbd", "samp", "template"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")


class VisibleText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.skip: list[str] = []          # inside data: the element, and nested ones of its kind
        self.tables: list[bool] = []       # open tables: is each a data table?

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append("rows-and-columns" in (attrs.get("class") or ""))
        if self.skip:
            if tag == self.skip[0] and tag not in VOID:
                self.skip.append(tag)
            return
        data_cell = tag == "td" and self.tables and self.tables[-1]
        if tag in SKIPPED or data_cell or attrs.get("translate") == "no":
            if tag not in VOID:
                self.skip.append(tag)
            return
        for name in SHOWN_ATTRIBUTES:
            if attrs.get(name):
                self.texts.append(attrs[name])
        if (tag == "input" and (attrs.get("type") or "").lower() in ("submit", "button", "reset")
                or tag == "button") and attrs.get("value"):
            self.texts.append(attrs["value"])

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self.skip and self.skip[-1] == tag and len(self.skip) and tag not in VOID:
            self.skip.pop()

    def handle_endtag(self, tag):
        if tag == "table" and self.tables:
            self.tables.pop()
        if self.skip and tag == self.skip[0]:
            self.skip.pop()

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.texts.append(" ".join(data.split()))


def visible_texts(page: str) -> list[str]:
    parser = VisibleText()
    parser.feed(page)
    parser.close()
    return parser.texts


# Data and code, not interface: the demo users' names, what the tests typed (a search, a column
# that does not exist, SQL), the audit reason of the demo data (a command).
# (plus the demo logins, which are data: the demo's history names who wrote each row), and the
# prefix of the demo's agreement numbers (HZ-2026-007, 合作 in pinyin initials).
DATA = {"u-admin", "u-viewer", "q8Zt", "no_such_column", "nonsense", "taizhang", "init", "demo", "HZ",
        *(f"demo-{role}" for role in load().roles)}
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z][A-Za-z0-9_]*)*")
SQL = re.compile(r"(?i)\bselect\b")
PATH = re.compile(r"^/\S*$")


async def support_tables(ds) -> set[str]:
    """Tables that are not registers (audit, search index, import batches …): identifiers with no
    Chinese name, shown only to administrators."""
    names = set()
    for database in load().databases:
        names |= set(await ds.get_database(database).table_names())
    return names - set(load().registers)


def english_texts(page: str, identifiers: set[str] = frozenset()) -> list[str]:
    """The visible texts of a page holding an English word (2+ ASCII letters) not allowed."""
    allowed = {w.lower() for w in ALLOWED | DATA | identifiers}
    found = []
    for text in visible_texts(page):
        if SQL.search(text) or PATH.match(text):
            continue                      # SQL and URL paths are shown as they are
        words = [w for w in WORD.findall(text) if sum(c.isalpha() for c in w) >= 2]
        if any(w.lower() not in allowed for w in words):
            found.append(text)
    return found


# -- fixtures ------------------------------------------------------------------------------
@pytest_asyncio.fixture(scope="module")
async def lang_ds(tmp_path_factory):
    """The demo registers, with a logged-in user of each role (real sessions in users.db)."""
    data_dir = DataDir.resolve(tmp_path_factory.mktemp("i18n"))
    init(data_dir)
    demo.fill(data_dir, today=TODAY)
    store = data_dir.users()
    sessions = {}
    for role in [r for r in ROLES if r not in load().derived_roles]:   # department_head is never given
        store.add(f"u-{role}", PASSWORD, role)
        sessions[role] = store.start_session(f"u-{role}")
    ds = make_datasette(data_dir)
    await ds.invoke_startup()
    ds._sessions = sessions
    return ds


def session(ds, role, **cookies):
    return {"tz_session": ds._sessions[role], **cookies}


# -- the untranslated-English test ---------------------------------------------------------
@pytest.mark.asyncio
@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant"])
async def test_no_english_on_chinese_pages(lang_ds, lang):
    failures, pages = [], []
    for who, role in (("admin", "admin"), ("viewer", "viewer"), ("anonymous", None)):
        cookies = {i18n.COOKIE: lang, **({"tz_session": lang_ds._sessions[role]} if role else {})}
        urls = html_get_urls() + (FORBIDDEN_PAGES if who == "viewer" else [])
        for url in urls:
            response = await lang_ds.client.get(url, cookies=cookies)
            if not response.headers.get("content-type", "").startswith("text/html"):
                continue
            assert response.status_code < 500, (url, response.status_code)
            pages.append((who, url, response.status_code, response.text))
    identifiers = await support_tables(lang_ds)   # after the pages: some are made on first use
    for who, url, status, page in pages:
        for text in english_texts(page, identifiers):
            failures.append(f'{who} {url} ({status}) → "{text[:120]}"')
    assert len(pages) > 100
    assert not failures, f"{len(failures)} English texts on {lang} pages:\n" + "\n".join(sorted(set(failures)))


# -- 繁體, English, the choice remembered ---------------------------------------------------
@pytest.mark.asyncio
async def test_traditional_pages_have_no_simplified_ui_text(lang_ds):
    page = (await lang_ds.client.get("/ops/customers", cookies=session(lang_ds, "admin", tz_lang="zh-Hant"))).text
    assert '<html lang="zh-Hant">' in page
    assert "下一頁" in page and "下一页" not in page        # core's "Next page", via 简体
    assert "客戶" in page                                   # the table's label, converted
    home = (await lang_ds.client.get("/", cookies=session(lang_ds, "admin", tz_lang="zh-Hant"))).text
    assert "檔案" in home and "我的待辦" in home               # our own 简体 template, converted
    simplified = (await lang_ds.client.get("/ops/customers", cookies=session(lang_ds, "admin"))).text
    assert '<html lang="zh-Hans">' in simplified and "下一页" in simplified


@pytest.mark.asyncio
async def test_column_identifiers_show_as_labels(lang_ds):
    page = (await lang_ds.client.get("/ops/partners?_facet=category&_sort=name",
                                     cookies=session(lang_ds, "admin"))).text
    shown = visible_texts(page)
    assert "合作伙伴名称" in shown and "类别" in shown                 # headers, facet title
    assert "按合作伙伴名称排序" in shown                               # the sort select
    assert not {"category", "contact_person", "owner_id"} & set(shown)
    assert 'data-column="category"' in page and "_sort=name" in page   # identifiers stay in markup
    assert 'content: "类别"' in page                                     # phone layout cell labels
    row = visible_texts((await lang_ds.client.get("/ops/partners/1", cookies=session(lang_ds, "admin"))).text)
    assert "contact_person" not in row and "联系人" in row


@pytest.mark.asyncio
async def test_english_shows_english_labels(lang_ds):
    page = (await lang_ds.client.get("/ops/partners", cookies=session(lang_ds, "admin", tz_lang="en"))).text
    shown = visible_texts(page)
    assert '<html lang="en">' in page
    assert "Partner name" in shown and "Category" in shown and "合作伙伴名称" not in shown
    assert "Partners" in shown                                           # the table's title
    assert "Sort by Partner name" in shown
    home = visible_texts((await lang_ds.client.get("/", cookies=session(lang_ds, "admin", tz_lang="en"))).text)
    assert "Log out" in home or "Change password" in home               # our 简体 menu, in English


@pytest.mark.asyncio
async def test_preference_is_remembered_in_users_db(lang_ds):
    first = session(lang_ds, "editor")
    response = await lang_ds.client.post("/-/language", data={"lang": "zh-Hant", "next": "/ops/partners"},
                                         cookies=first)
    assert response.status_code == 302 and response.headers["location"] == "/ops/partners"
    assert "tz_lang=zh-Hant" in response.headers["set-cookie"]
    store = DataDir.resolve(lang_ds.plugin_config("taizhang")["data_dir"]).users()
    assert store.language("u-editor") == "zh-Hant"
    # A new session, on another browser (no cookie): still 繁體.
    again = {"tz_session": store.start_session("u-editor")}
    page = (await lang_ds.client.get("/ops/partners", cookies=again)).text
    assert '<html lang="zh-Hant">' in page and "合作伙伴檔案" in page
    # The user's choice wins over a cookie left from before.
    page = (await lang_ds.client.get("/ops/partners", cookies={**again, "tz_lang": "en"})).text
    assert '<html lang="zh-Hant">' in page
    await lang_ds.client.post("/-/language", data={"lang": "zh-Hans"}, cookies=again)
    assert store.language("u-editor") == "zh-Hans"


@pytest.mark.asyncio
async def test_cookie_for_anonymous_and_the_login_page(lang_ds):
    response = await lang_ds.client.post("/-/language", data={"lang": "en", "next": "/-/login"})
    assert response.status_code == 302 and response.headers["location"] == "/-/login"
    assert "tz_lang=en" in response.headers["set-cookie"]
    login = (await lang_ds.client.get("/-/login", cookies={"tz_lang": "en"})).text
    assert '<html lang="en">' in login and "Username" in visible_texts(login)
    chinese = (await lang_ds.client.get("/-/login")).text
    assert '<html lang="zh-Hans">' in chinese and "用户名" in visible_texts(chinese)
    assert "/-/language?lang=zh-Hant" in chinese                        # the menu offers the choice


@pytest.mark.asyncio
async def test_language_page_refuses_bad_choices(lang_ds):
    bad = await lang_ds.client.post("/-/language", data={"lang": "fr"})
    assert bad.status_code == 400 and "不支持的语言" in bad.text
    # Browsers drop tabs and newlines from a URL and read "\\" as "/": "/\t\\evil" is "//evil".
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example",
                   "/\t\\evil.example", "/\n/evil.example", "/\r\n\\evil.example", "/ops\r\nSet-Cookie: x=1"):
        response = await lang_ds.client.post("/-/language", data={"lang": "en", "next": target})
        assert response.headers["location"] == "/", target
    cross_site = await lang_ds.client.post("/-/language", data={"lang": "en"},
                                           headers={"sec-fetch-site": "cross-site"})
    assert cross_site.status_code == 403
    page = (await lang_ds.client.get("/-/language?lang=zh-Hant&next=/ops")).text
    assert 'value="zh-Hant" checked' in page and 'value="/ops"' in page


# -- everything that is not a page passes through untouched -------------------------------
def _payload(content: bytes, url: str):
    """What a response says: an .xlsx file's parts except the workbook's creation time (two
    exports a second apart differ there and nowhere else)."""
    if not url.endswith(".xlsx"):
        return content
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as book:
        return {name: book.read(name) for name in book.namelist() if name != "docProps/core.xml"}



@pytest.mark.asyncio
@pytest.mark.parametrize("url", ["/ops/partners.json?_facet=category", "/ops/partners.csv",
                                 "/ops/partners.json?_shape=array&_size=3", "/assets/taizhang.css",
                                 "/-/static/app.css", "/ops/partners.xlsx"])
async def test_non_html_responses_are_untouched(lang_ds, url):
    plain = await lang_ds.client.get(url, cookies=session(lang_ds, "admin"))
    for lang in ("zh-Hant", "en"):
        other = await lang_ds.client.get(url, cookies=session(lang_ds, "admin", tz_lang=lang))
        assert other.status_code == plain.status_code == 200
        assert _payload(other.content, url) == _payload(plain.content, url)
        assert other.headers.get("content-type") == plain.headers.get("content-type")
    if "json" in url:
        assert "category" in plain.text and "类别" not in plain.text     # identifiers, not labels


@pytest.mark.asyncio
async def test_content_length_matches_the_rewritten_page(lang_ds):
    for lang in i18n.LANGUAGES:
        response = await lang_ds.client.get("/ops/partners", cookies=session(lang_ds, "admin", tz_lang=lang))
        assert int(response.headers["content-length"]) == len(response.content)
        assert response.text.rstrip().endswith("</html>")
        assert '<script src="/assets/i18n.js" defer></script>' in response.text
        assert "window.taizhangI18n = " in response.text


@pytest.mark.asyncio
async def test_injected_catalogue_holds_the_page_table_labels(lang_ds):
    page = (await lang_ds.client.get("/ops/partners", cookies=session(lang_ds, "admin", tz_lang="zh-Hant"))).text
    script = re.search(r"window\.taizhangI18n = (\{.*?\});</script>", page).group(1)
    import json
    data = json.loads(script)
    assert data["lang"] == "zh-Hant" and set(data) == {"lang", "exact", "patterns", "columns"}
    assert data["columns"]["partners"]["name"] == "合作伙伴名稱"
    home = (await lang_ds.client.get("/", cookies=session(lang_ds, "admin"))).text
    assert '"columns": {}' in home


def test_rewrite_keeps_data_and_code():
    page = ('<html lang="en"><body><h2>Next page</h2><table class="rows-and-columns"><tr><th>Next page</th>'
            '<td>Next page</td></tr></table><textarea>Next page</textarea><pre>Next page</pre>'
            '<p translate="no">Next <b>page</b> <b>Next page</b></p><input type="text" value="Next page">'
            '<input type="submit" value="Next page"><script>"Next page"</script></body></html>')
    out = i18n.rewrite(page, "zh-Hans", None)
    assert out.count("下一页") == 3                          # the heading, the header, the button
    assert out.count("Next page") == 6


def test_data_table_bodies_are_passed_over_whole_unless_a_cell_nests_a_table():
    head = '<table class="rows-and-columns"><thead><tr><th>Next page</th></tr></thead><tbody>'
    plain = f'{head}<tr><td>Next page</td><td><b>Next page</b></td></tr></tbody></table><p>Next page</p>'
    out = i18n.rewrite(plain, "zh-Hans", None)
    assert out.count("下一页") == 2 and out.count("Next page") == 2   # header and paragraph; the cells kept
    nested = (f'{head}<tr><td><table><tr><td>Next page</td></tr></table> Next page</td></tr></tbody></table>'
              '<p>Next page</p>')
    out = i18n.rewrite(nested, "zh-Hans", None)
    assert out.count("下一页") == 2 and out.count("Next page") == 2   # both cell texts kept


def test_rewrite_is_idempotent_on_pages_without_english():
    page = "<html><body><p>已是中文 &amp; 数字 123</p></body></html>"
    assert i18n.rewrite(page, "zh-Hans", None) == page.replace("<html>", "<html>")


def _language_plugin():
    import importlib.util
    spec = importlib.util.spec_from_file_location("language_plugin", REPO / "plugins" / "language.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _serve(ds, headers, chunks):
    """One GET through the wrapper in front of an app answering with these headers and chunks."""
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
    await _language_plugin().asgi_wrapper(ds)(app)(scope, receive, send)
    return sent


@pytest.mark.asyncio
async def test_encoded_and_streamed_responses(lang_ds):
    page = b"<html lang=\"en\"><body><p>Next page</p></body></html>"
    # gzip-encoded HTML cannot be rewritten: passed on byte for byte, headers as they were.
    gz = gzip.compress(page)
    sent = await _serve(lang_ds, [(b"content-type", b"text/html; charset=utf-8"), (b"content-encoding", b"gzip"),
                               (b"content-length", str(len(gz)).encode())], [gz])
    assert sent[1]["body"] == gz and (b"content-length", str(len(gz)).encode()) in sent[0]["headers"]
    # A streamed page (several body messages) is gathered, rewritten, sent with its new length.
    sent = await _serve(lang_ds, [(b"content-type", b"text/html; charset=utf-8")], [page[:20], page[20:]])
    body = sent[-1]["body"].decode()
    assert "下一页" in body and '<html lang="zh-Hans">' in body
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(sent[-1]["body"])).encode()
    # A streamed CSV goes through message by message, untouched.
    sent = await _serve(lang_ds, [(b"content-type", b"text/csv")], [b"a,b\r\n", b"Next page,2\r\n"])
    assert [m.get("body") for m in sent[1:]] == [b"a,b\r\n", b"Next page,2\r\n"]


# -- our own pages in English -----------------------------------------------------------------
# Pages we render ourselves; in English their chrome (headings, labels, buttons, th, nav, actions,
# help lines, empty states) has no Chinese left. Data stays as stored: the demo registers' values
# are taken out of each text before looking (they are what the page shows, not what it says).
OUR_PAGES = [
    "/", "/-/search?q=预算", "/-/search?q=不存在的词", "/-/form/ops/partners", "/-/form/ops/meetings/1",
    "/-/form/hr/confidentiality_agreements", "/ops/meetings/1", "/ops/partners/1", "/ops/employees/1",
    "/ops/customers/1", "/ops/training_sessions/1", "/-/history", "/-/history/ops/partners",
    "/-/history/ops/partners/1", "/-/import/ops/customers", "/-/imports", "/-/account", "/-/users",
    "/-/language", "/-/logout", "/ops", "/-/reports", "/-/reports?q=不存在的词", "/-/dashboard", "/-/print/ops/meetings/1", "/-/print/ops/expense_claims/1",
]
HAN = re.compile(r"[\u3400-\u9fff]+")
# Named in their own script on purpose (the language menu), and what the test typed.
NOT_CHROME = ("简体中文", "繁體中文", "预算", "不存在的词")


async def demo_values(ds) -> re.Pattern:
    """One pattern matching any value stored in the demo registers, or a canonical enum value."""
    values = {str(v) for reg in load().registers.values() for col in reg.columns.values() for v in col.values}
    for reg in load().registers.values():
        db = ds.get_database(reg.database)
        texts = [c.name for c in reg.columns.values() if c.type in ("text", "enum", "fk")]
        rows = (await db.execute(f"select {', '.join(texts)} from {reg.name}")).rows
        values |= {v for row in rows for v in row if isinstance(v, str) and HAN.search(v) and len(v) <= 200}
    values |= set(NOT_CHROME)
    return re.compile("|".join(map(re.escape, sorted(values, key=len, reverse=True))))


def chinese_chrome(page: str, data: re.Pattern) -> list[str]:
    """The visible texts of a page that still hold Chinese once the data in them is taken out."""
    return [text for text in visible_texts(page) if HAN.search(text) and HAN.search(data.sub("", text))]


@pytest.mark.asyncio
async def test_our_pages_in_english_show_no_chinese_chrome(lang_ds):
    data = await demo_values(lang_ds)
    failures = []
    for url in OUR_PAGES:
        response = await lang_ds.client.get(url, cookies=session(lang_ds, "admin", tz_lang="en"))
        assert response.status_code == 200, url
        failures += [f'{url} → "{text[:120]}"' for text in chinese_chrome(response.text, data)]
    assert not failures, f"{len(failures)} Chinese texts on English pages:\n" + "\n".join(sorted(set(failures)))


@pytest.mark.asyncio
async def test_a_new_untranslated_string_is_caught(lang_ds):
    data = await demo_values(lang_ds)
    page = i18n.rewrite("<html><body><h2>我的待办</h2><h2>新的界面文字</h2><p>供应商</p>"
                        "<p translate=\"no\">任意数据</p></body></html>", "en", None)
    assert chinese_chrome(page, data) == ["新的界面文字"]     # data (供应商) and marked data pass


@pytest.mark.asyncio
async def test_english_labels_and_patterns_on_our_pages(lang_ds):
    cookies = session(lang_ds, "admin", tz_lang="en")
    home = visible_texts((await lang_ds.client.get("/", cookies=cookies)).text)
    assert "My to-do" in home and "Partners" in home and "People and training" in home
    assert any(re.fullmatch(r"\d+ records", t) for t in home)
    row = (await lang_ds.client.get("/ops/partners/1", cookies=cookies)).text
    assert "New Partners (form)" in row or "Edit (form)" in row
    meeting = visible_texts((await lang_ds.client.get("/ops/meetings/1", cookies=cookies)).text)
    assert "Meeting actions (Meetings)" in meeting and "Add Meeting actions" in meeting
    form = visible_texts((await lang_ds.client.get("/-/form/ops/partners", cookies=cookies)).text)
    assert "New Partners" in form and "Partner name" in form and "(none)" in form
    assert "Allowed: 合作中、暂停、已终止" in form             # the canonical values are data
    # A strict pattern leaves data in brackets alone.
    assert i18n.catalogue("en").text("运营部周例会（第 47 周）", None) is None
    # The edit-conflict sentence names the fields by their English labels.
    assert i18n.catalogue("en").text("此记录已被 u-x 于 09:30 修改（改动了：类别、联系人）。请重新载入后再改。",
                                     "partners") == "This record was changed by u-x at 09:30 (changed: Category, Contact person)."


@pytest.mark.asyncio
async def test_the_language_is_looked_up_once_per_page(lang_ds, monkeypatch):
    # The rewrite, the form rules and the grid rules all need it: one users.db lookup serves all.
    from taizhang.users import UserStore

    calls = []
    original = UserStore.language
    monkeypatch.setattr(UserStore, "language", lambda self, username: calls.append(username) or original(self, username))
    page = await lang_ds.client.get("/ops/partners", cookies=session(lang_ds, "editor"))
    assert "window.taizhangGrid" in page.text and "window.taizhangForms" in page.text
    assert len(calls) == 1


@pytest.mark.asyncio
async def test_a_refused_api_write_answers_in_the_page_language(lang_ds):
    # Core's dialog shows the JSON API's refusal as it comes: 繁體 on a 繁體 page, 简体 otherwise.
    row = {"row": {"name": "語言測試", "agreement_start": "2025-01-01", "agreement_end": "2024-01-01"}}
    admin = {"id": "test-admin", "roles": ["admin"]}
    hans = await lang_ds.client.post("/ops/partners/-/insert", json=row, actor=admin)
    hant = await lang_ds.client.post("/ops/partners/-/insert", json=row, actor=admin, cookies={"tz_lang": "zh-Hant"})
    assert hans.status_code == hant.status_code == 400
    assert hans.json()["errors"][0].startswith("协议到期日期不能早于协议开始日期")
    assert hant.json()["errors"][0].startswith("協議到期日期不能早於協議開始日期")


class _Options(HTMLParser):
    """What each <select name=…> would submit: an option's value, or its text when it has none."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.selects: dict[str, list[str]] = {}
        self.select, self.option = None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "select":
            self.select = attrs.get("name")
            self.selects.setdefault(self.select, [])
        elif tag == "option" and self.select:
            self.option = attrs.get("value")
            if self.option is None:
                self.option = ""
                self.selects[self.select].append(None)     # filled by its text
            else:
                self.selects[self.select].append(self.option)
                self.option = None

    def handle_data(self, data):
        if self.option is not None and self.select:
            self.selects[self.select][-1] = (self.selects[self.select][-1] or "") + data.strip()

    def handle_endtag(self, tag):
        if tag == "option":
            self.option = None
        elif tag == "select":
            self.select = None


@pytest.mark.asyncio
@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant", "en"])
async def test_filter_form_still_submits_column_identifiers(lang_ds, lang):
    # Core's filter selects are <option>{{ column }}</option>, no value attribute: the text IS
    # what the form submits, so showing it as a label must not change what is sent.
    page = (await lang_ds.client.get("/ops/partners?category=供应商",
                                     cookies=session(lang_ds, "admin", tz_lang=lang))).text
    parser = _Options()
    parser.feed(page)
    columns = set(load().registers["partners"].columns) | {"id", "created_at", "updated_at", "rowid"}
    submitted = parser.selects["_filter_column"] + parser.selects["_filter_column_1"]
    assert "category" in submitted
    assert set(submitted) - {""} <= columns, sorted(set(submitted) - columns)


@pytest.mark.asyncio
@pytest.mark.parametrize("lang", ["zh-Hans", "en"])
async def test_refused_pages_do_not_describe_a_confidential_register(lang_ds, lang):
    # A viewer may not know what the confidentiality register holds: the 403 page must not
    # carry its column labels in the script catalogue (or anywhere else).
    for url in ("/hr/confidentiality_agreements", "/hr/confidentiality_agreements/1",
                "/-/form/hr/confidentiality_agreements", "/-/history/hr/confidentiality_agreements"):
        response = await lang_ds.client.get(url, cookies=session(lang_ds, "viewer", tz_lang=lang))
        assert response.status_code == 403, url
        for secret in ("secrecy_level", "密级", "保密范围", "Secrecy level"):
            assert secret not in response.text, (url, secret)


@pytest.mark.asyncio
@pytest.mark.parametrize("body,content_type", [
    (b"lang=en&next=/\xff", "application/x-www-form-urlencoded"),   # raw, not %-encoded
    (b"\xff\xfe\x00", "multipart/form-data; boundary=x"),
])
async def test_language_choice_with_a_body_that_is_not_utf8(lang_ds, body, content_type):
    response = await lang_ds.client.post("/-/language", content=body, headers={"content-type": content_type},
                                         cookies=session(lang_ds, "editor"))
    assert response.status_code == 400 and "UTF-8" in response.text
