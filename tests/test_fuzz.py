"""The parameter fuzz: the route sweep's pages (tests/test_sweep.py) with real databases, tables
and rows filled in, each given core's query parameters and our plugins' own, one at a time, with
hostile values, and in every format extension — never a 500, never a traceback, and the
canaries never reach anyone but hr and admin.

Three actors keep it affordable on two cores: an admin (every page open, so every code path
runs), a manager (no hr role: the canary check bites) and anonymous (refused everywhere — the
refusal must come before anything fails)."""

import json
import re
import sqlite3
import urllib.parse

import pytest
import pytest_asyncio

from taizhang import demo
from taizhang.app import make_datasette
from taizhang.datadir import DataDir, init
from tests.conftest import TODAY, actor
from tests.test_sweep import CA, CANARY, PASSWORD, ROUTES, _seed

pytestmark = pytest.mark.fast

# Values as they go into the query string: already percent-encoded, so that bytes that are not
# UTF-8 (a lone surrogate's encoding) and a null byte reach the app as sent.
q = urllib.parse.quote
LONG = "x" * 10_000
VALUES = [
    "", q("99999999999999999999999999"), "-1", "1.5", q("²"), "%ED%A0%80", "%00", q("{\"table\":"), q("[1,"),
    "no_such_column", q("id); drop table partners; --"), q("' or 1=1 --"), LONG, q("中文"),
]
# The nastiest of them, for every page of the sweep.
ROUTE_VALUES = ["", q("99999999999999999999999999"), "%ED%A0%80", LONG]
# Core's query parameters (Datasette 1.0a41: views/table.py, views/row.py, views/database.py,
# facets.py, filters.py, renderer.py).
CORE_PARAMS = [
    "_facet", "_facet_array", "_facet_date", "_through", "_sort", "_sort_desc", "_size", "_next", "_search",
    "_search_name", "_searchmode", "_where", "_col", "_nocol", "_shape", "_labels", "_nolabels", "_json", "_nl",
    "_stream", "_timelimit", "_ttl", "_trace", "_dl", "_bom", "_extra", "_nofacet", "_nosuggest", "_nocount",
    "_fts_table", "_fts_pk", "_hide_sql", "_show_sql", "_context", "_header", "sql",
    "name__exact", "name__not", "name__contains", "name__in", "name__gt", "name__date", "name__isnull",
    "name__arraycontains", "name__notblank", "name__bogus", "id__gte", "no_such_column__exact", "name",
]
# Our plugins' own (plugins/*.py: request.args and post_vars).
PLUGIN_PARAMS = ["q", "id", "next", "lang", "table", "actor", "operation", "since", "until", "column", "days",
                 "action", "parent", "child", "token"]
PARAMS = CORE_PARAMS + PLUGIN_PARAMS
FORMATS = ["", ".json", ".csv", ".CSV", ".Json", ".xlsx", ".XLSX", ".tsv", ".nosuchformat"]

# The views that read core's query parameters, two kinds: a table or row (filters, facets,
# sort, labels, the confidential register among them) and a query (stored, or SQL in the URL).
TABLE_VIEWS = ["/ops/meeting_actions", f"/hr/{CA}", "/ops/customers", "/ops/partners/1", f"/hr/{CA}/1"]
QUERY_VIEWS = ["/ops/-/query?sql=select+*+from+meeting_actions", "/hr/expiring_confidentiality_agreements",
               "/ops/overdue_meeting_actions", f"/hr/-/query?sql=select+*+from+{CA}"]
VIEWS = [*TABLE_VIEWS, *QUERY_VIEWS, "/ops", "/hr"]
# Each parameter × value goes to one view of each kind, in turn, and in one format in turn.
ROTATED_FORMATS = ["", ".json", ".csv", ".json"]
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+")


def _sweep_paths() -> list[str]:
    """Every concrete page of the route sweep without its query, with ops and hr both named."""
    paths = {url.split("?")[0] for urls in ROUTES.values() for url in urls}
    paths |= {p.replace(f"hr/{CA}", "ops/partners") for p in paths}
    return sorted(p for p in paths if not p.endswith(("/-/logout", "/-/delete", "/-/drop", "/restore")))


@pytest_asyncio.fixture(scope="module")
async def fuzz(tmp_path_factory):
    data_dir = DataDir.resolve(tmp_path_factory.mktemp("fuzz"))
    init(data_dir)
    demo.fill(data_dir, today=TODAY)
    await _seed(data_dir)
    store = data_dir.users()
    for role in ("admin", "manager"):
        store.add(f"f-{role}", PASSWORD, role)
    ds = make_datasette(data_dir)
    await ds.invoke_startup()
    actors = {"anonymous": {}}
    for role in ("admin", "manager"):
        actors[role] = {"cookies": {"tz_session": store.start_session(f"f-{role}")}}
    return ds, actors


async def _failures(ds, credentials, privileged: bool, urls) -> list[str]:
    failures = []
    for url in urls:
        response = await ds.client.get(url, **credentials)
        shown = url if len(url) < 200 else url[:200] + "…"
        if response.status_code >= 500:
            failures.append(f"{shown}: {response.status_code} {response.text[:200]}")
        elif TRACEBACK.search(response.text):
            failures.append(f"{shown}: traceback in the body")
        if not privileged and CANARY in response.text:
            failures.append(f"{shown}: canary leaked ({response.status_code})")
    return failures


def _with(view: str, fmt: str, query: str) -> str:
    path, _, fixed = view.partition("?")
    return f"{path}{fmt}?" + "&".join(filter(None, [fixed, query]))


def _view_urls(kinds=(TABLE_VIEWS, QUERY_VIEWS)) -> list[str]:
    urls = []
    for i, (param, value) in enumerate((p, v) for p in PARAMS for v in VALUES):
        fmt = ROTATED_FORMATS[i % len(ROTATED_FORMATS)]
        for views in kinds:
            urls.append(_with(views[(i + i // len(views)) % len(views)], fmt, f"{param}={value}"))
    return urls


def _format_urls() -> list[str]:
    return [_with(view, fmt, query) for view in VIEWS for fmt in FORMATS for query in ("", "_size=1&_labels=on")]


def _route_urls() -> list[str]:
    """Every sweep page with every parameter at once set to each value (a page reads its own)."""
    # (the 10k value cut to 900 characters: 64 of them would pass httpx's limit on a URL's length)
    # (without the parameters plugins/query_params.py refuses by shape whatever the page: they
    # would stop every request before the page runs; the views above get them one at a time)
    params = [p for p in PARAMS if p not in ("_through", "_timelimit", "_ttl")]
    return [f"{path}?" + "&".join(f"{p}={value[:900]}" for p in params) for path in _sweep_paths() for value in ROUTE_VALUES]


PRIVILEGED = {"admin": True, "manager": False, "anonymous": False}
# Which actor meets which list (the time it takes runs in every CI run): the admin everything;
# the manager the table and row pages, where a confidential row could slip out; anonymous the
# pages of the sweep, where the refusal has to come before anything can fail.
CASES = {
    ("views", "admin"): _view_urls,
    ("table-views", "manager"): lambda: _view_urls((TABLE_VIEWS,)),
    ("routes", "admin"): _route_urls,
    ("routes", "anonymous"): _route_urls,
    **{("formats", name): _format_urls for name in PRIVILEGED},
}


@pytest.mark.asyncio
@pytest.mark.parametrize("kind,actor_name", list(CASES))
async def test_parameter_fuzz(fuzz, kind, actor_name):
    ds, actors = fuzz
    urls = CASES[kind, actor_name]()
    failures = await _failures(ds, actors[actor_name], PRIVILEGED[actor_name], urls)
    assert not failures, f"{len(failures)} of {len(urls)}:\n" + "\n".join(failures[:60])


# What the fuzz found, each pinned with its answer.
ADMIN = actor("admin")


@pytest.mark.asyncio
@pytest.mark.parametrize("url", ["/ops/partners.CSV", "/ops/partners.Json?_size=1", "/ops/-/query.tsv?sql=select+1",
                                 "/ops/overdue_meeting_actions.XLSX", "/ops.nosuchformat"])
async def test_an_unknown_format_is_refused_in_chinese(demo_ds, url):
    response = await demo_ds.client.get(url, actor=ADMIN)
    assert response.status_code == 404
    fmt = url.split("?")[0].rsplit(".", 1)[1]
    assert f"不支持的格式「.{fmt}」" in response.text and ".csv" in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize("url,named", [
    ('/ops/partners.json?_through={"table":', "_through"),
    ("/ops/partners.json?_through=1.5", "_through"),
    ('/ops/partners.json?_through={"table":1,"column":"x","value":1}', "_through"),
    ("/ops/partners.json?_timelimit=abc", "_timelimit"),
    ("/ops/overdue_meeting_actions.json?_timelimit=²", "_timelimit"),
    ("/hr/expiring_confidentiality_agreements?_ttl=²", "_ttl"),
    ("/ops/partners.json?_facet=%7B", "_facet"),
    ("/ops/partners.json?_facet_array=%7Bx", "_facet_array"),
    ("/ops/partners.json?name__in=[1,", "name__in"),
    ("/ops/partners.json?_where=%00", "_where"),
    ("/-/allow-debug?actor=1", "actor"),
    ("/-/auth-token?token=中文", "token"),
])
async def test_a_malformed_parameter_is_refused_naming_it(demo_ds, url, named):
    response = await demo_ds.client.get(url, actor=ADMIN)
    assert response.status_code == 400, response.text
    message = response.json()["error"] if url.split("?")[0].endswith(".json") else response.text
    assert named in message


@pytest.mark.asyncio
@pytest.mark.parametrize("url", ["/ops/partners.json?_facet_array=no_such_column", "/ops/partners?_facet=no_such_column",
                                 "/ops/partners.json?_facet_date=abc"])
async def test_a_facet_on_a_column_that_is_not_there_is_a_400(demo_ds, url):
    response = await demo_ds.client.get(url, actor=ADMIN)
    assert response.status_code == 400
    assert "请检查 _facet" in (response.json()["error"] if ".json" in url else response.text)


@pytest.mark.asyncio
async def test_the_shape_checks_come_before_nothing_is_told_about_a_table(demo_ds):
    """A bad column name is answered only after the permission check: a viewer learns nothing of hr."""
    viewer = actor("viewer")
    for column in ("party_name", "no_such_column"):
        response = await demo_ds.client.get(f"/hr/{CA}.json?_facet={column}", actor=viewer)
        assert response.status_code == 403


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["abc", "²", "99999999999999999999999", "-1", "1.5"])
async def test_a_reference_that_is_no_row_id_is_a_field_error_in_the_form(demo_ds, value):
    response = await demo_ds.client.post(
        "/-/form/ops/meeting_actions", data={"meeting_id": value, "item": "交预算"}, actor=ADMIN)
    assert response.status_code == 200
    assert f"「{value}」不是会议纪要的记录编号" in response.text


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["abc", "²", "99999999999999999999999", "", "0"])
async def test_linked_add_with_a_parent_id_that_is_no_row_id(demo_ds, value):
    before = (await demo_ds.client.get("/ops/meeting_actions.json?_extra=count", actor=ADMIN)).json()["count"]
    response = await demo_ds.client.post(
        "/-/linked/ops/meetings/meeting_actions/add", data={"parent_id": value, "item": "交预算"}, actor=ADMIN)
    assert response.status_code == 302 and response.headers["location"] == "/ops/meetings"
    assert (await demo_ds.client.get("/ops/meeting_actions.json?_extra=count", actor=ADMIN)).json()["count"] == before


@pytest.mark.asyncio
async def test_a_grid_change_with_a_superscript_id(demo_ds):
    response = await demo_ds.client.post(
        "/-/cells/ops/partners", json={"changes": [{"id": "²", "column": "notes", "value": "x"}]}, actor=ADMIN)
    assert response.status_code == 400
    assert "记录 id 应为正整数，收到「²」" in response.json()["message"]


@pytest.mark.asyncio
async def test_a_token_duration_in_superscript_digits(demo_ds):
    response = await demo_ds.client.post(
        "/-/create-token", data={"expire_type": "minutes", "expire_duration": "²"}, actor=ADMIN)
    assert response.status_code == 400
    assert "有效期应为正整数" in response.text


@pytest.mark.parametrize("code, status", [
    (sqlite3.SQLITE_ERROR, 400),                           # a statement the parameters composed
    (sqlite3.SQLITE_BUSY, 503), (sqlite3.SQLITE_LOCKED, 503),   # the server's moment: try again
    (sqlite3.SQLITE_IOERR, None), (sqlite3.SQLITE_CORRUPT, None),  # a real fault: stays a 500
])
def test_sqlite_errors_are_told_apart_by_their_code(code, status):
    from types import SimpleNamespace

    from plugins.route_guard import handle_exception

    error = sqlite3.OperationalError("whatever the sentence says")
    error.sqlite_errorcode = code
    request = SimpleNamespace(path="/ops/partners.json", method="GET", url_vars={})
    response = handle_exception(SimpleNamespace(renderers={"json": None}), request, error)
    assert (response and response.status) == status
    if status == 503:
        assert response.headers["Retry-After"] and "稍后重试" in json.loads(response.body)["error"]


def _real_busy_error(tmp_path) -> sqlite3.OperationalError:
    """The error SQLite raises when another connection holds the write lock."""
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    waiter = sqlite3.connect(tmp_path / "busy.db", timeout=0)
    try:
        waiter.execute("SELECT * FROM t")
    except sqlite3.OperationalError as ex:
        return ex
    finally:
        holder.close()
        waiter.close()
    raise AssertionError("no busy error")


@pytest.mark.asyncio
async def test_a_busy_database_on_a_page_is_the_servers_not_the_askers(empty_ds, tmp_path, monkeypatch):
    """Only SQL errors are the asker's (400 naming the parameters): busy is said as busy, 503."""
    busy = _real_busy_error(tmp_path)
    db = empty_ds.get_database("ops")

    async def refused(*args, **kwargs):
        raise busy

    monkeypatch.setattr(db, "execute", refused)
    response = await empty_ds.client.get("/ops/partners.json", actor=ADMIN)
    assert response.status_code == 503 and "暂时被占用" in response.json()["error"], response.text
