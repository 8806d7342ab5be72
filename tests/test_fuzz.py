"""The parameter fuzz: the route sweep's pages (tests/test_sweep.py) with real databases, tables
and rows filled in, each given core's query parameters and our plugins' own, one at a time, with
hostile values, and in every format extension — never a 500, never a traceback, and the
canaries never reach anyone but hr and admin.

Three actors keep it affordable on two cores: an admin (every page open, so every code path
runs), a manager (no hr role: the canary check bites) and anonymous (refused everywhere — the
refusal must come before anything fails)."""

import re
import urllib.parse

import pytest
import pytest_asyncio

from taizhang import demo
from taizhang.app import make_datasette
from taizhang.datadir import DataDir, init
from tests.conftest import TODAY
from tests.test_sweep import CA, CANARY, PASSWORD, ROUTES, _seed

pytestmark = pytest.mark.fast

# Values as they go into the query string: already percent-encoded, so that bytes that are not
# UTF-8 (a lone surrogate's encoding, a bare %FF) and a null byte reach the app as sent.
q = urllib.parse.quote
VALUES = [
    "", q("99999999999999999999999999"), "-1", "abc", q("²"), "%ED%A0%80", "%FF", "%00", q("{\"table\":"),
    q("[1,"), "no_such_column", q("id); drop table partners; --"), q("' or 1=1 --"), "x" * 10_000, q("中文"),
    "1.5",
]
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

# The views that read core's query parameters: every parameter × every value, in two formats.
VIEWS = ["/ops/partners", "/ops/meeting_actions", "/ops/customers", f"/hr/{CA}", "/ops/partners/1",
         f"/hr/{CA}/1", "/ops/overdue_meeting_actions", "/hr/expiring_confidentiality_agreements", "/ops",
         "/ops/-/query"]
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


def _view_urls() -> list[str]:
    urls = []
    for view in VIEWS:
        for i, (param, value) in enumerate((p, v) for p in PARAMS for v in VALUES):
            suffix = ".json" if i % 2 else ""   # alternate, so each format sees every parameter
            urls.append(f"{view}{suffix}?{param}={value}")
    return urls


def _format_urls() -> list[str]:
    return [f"{path}{fmt}" for path in VIEWS for fmt in FORMATS] + [
        f"{path}{fmt}?_size=1&_labels=on" for path in VIEWS for fmt in FORMATS]


def _route_urls() -> list[str]:
    """Every sweep page with every parameter at once set to each value (a page reads its own)."""
    # (the 10k value cut to 900 characters: 64 of them would pass httpx's limit on a URL's length)
    return [f"{path}?" + "&".join(f"{p}={value[:900]}" for p in PARAMS) for path in _sweep_paths() for value in VALUES]


ACTORS = {"admin": True, "manager": False, "anonymous": False}


@pytest.mark.asyncio
@pytest.mark.parametrize("actor_name", list(ACTORS))
@pytest.mark.parametrize("kind", ["views", "formats", "routes"])
async def test_fuzz(fuzz, actor_name, kind):
    ds, actors = fuzz
    urls = {"views": _view_urls, "formats": _format_urls, "routes": _route_urls}[kind]()
    failures = await _failures(ds, actors[actor_name], ACTORS[actor_name], urls)
    assert not failures, f"{len(failures)} of {len(urls)}:\n" + "\n".join(failures[:60])
