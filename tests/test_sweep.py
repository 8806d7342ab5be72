"""The route sweep: canary strings in every confidential row and field, then every route the
app serves (core and plugins, enumerated from Datasette's own routing table: a route nobody
classified here fails the test), for every kind of actor, GET and POST — checking statuses and
that no canary byte reaches anyone who may not read the confidential register."""

import asyncio
import re
import sqlite3

import pytest
import pytest_asyncio
import yaml

from taizhang.app import make_datasette
from taizhang.datadir import REPO, DataDir, init
from taizhang.registers import load
from tests.conftest import ROLES as ALL_ROLES

# Logins are given these; department_head follows from the data (a department's manager_id).
ROLES = [r for r in ALL_ROLES if r not in load().derived_roles]

pytestmark = pytest.mark.fast
CANARY = "CANARYq8Zt"   # ASCII: found verbatim in HTML, CSV and \u-escaped JSON alike
CA = "confidentiality_agreements"
PRIVILEGED = {"admin", "hr"}
PASSWORD = "Sweep-pass-1"

# Every route pattern Datasette serves -> the concrete URLs that exercise it.
ROUTES = {
    r"^/-/account$": ["/-/account"],
    r"^/-/users$": ["/-/users"],
    r"^/-/login$": ["/-/login"],
    r"^/-/language$": ["/-/language", "/-/language?lang=en&next=/ops"],
    r"^/-/logout$": ["/-/logout"],
    r"^/-/password-tool$": ["/-/password-tool"],
    r"^/-/history$": ["/-/history", "/-/history?table=" + CA],
    r"^/-/history/(?P<database>[^/]+)/(?P<table>[^/]+)$": [f"/-/history/hr/{CA}", "/-/history/ops/partners"],
    r"^/-/history/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<row_id>\d+)$": [f"/-/history/hr/{CA}/1", f"/-/history/hr/{CA}/999999"],
    r"^/-/history/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<row_id>\d+)/restore$": [f"/-/history/hr/{CA}/1/restore"],
    r"^/-/import/(?P<database>[^/]+)/(?P<table>[^/]+)$": [f"/-/import/hr/{CA}", "/-/import/ops/partners"],
    r"^/-/import/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<token>[0-9a-f]+)$": [f"/-/import/hr/{CA}/abc123"],
    r"^/-/import/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<token>[0-9a-f]+)/confirm$": [f"/-/import/hr/{CA}/abc123/confirm"],
    r"^/-/import/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<token>[0-9a-f]+)/status(\.json)?$": [f"/-/import/hr/{CA}/abc123/status.json"],
    r"^/-/import/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<token>[0-9a-f]+)/report\.xlsx$": [f"/-/import/hr/{CA}/abc123/report.xlsx"],
    r"^/-/imports$": ["/-/imports"],
    r"^/$": ["/"],
    r"^/-/form/(?P<database>[^/]+)/(?P<table>[^/]+)$": [f"/-/form/hr/{CA}", "/-/form/ops/partners"],
    r"^/-/form/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<row_id>\d+)$": [f"/-/form/hr/{CA}/1", f"/-/form/hr/{CA}/999999"],
    r"^/-/choices/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<column>[^/]+)$": [
        f"/-/choices/hr/{CA}/employee_no?q={CANARY[6:]}", "/-/choices/ops/partners/owner_id?q=张"],
    r"^/-/markdown$": ["/-/markdown"],
    r"^/-/cells/(?P<database>[^/]+)/(?P<table>[^/]+)$": [f"/-/cells/hr/{CA}", "/-/cells/ops/partners"],
    r"^/-/linked/(?P<database>[^/]+)/(?P<parent>[^/]+)/(?P<child>[^/]+)/add$": [
        "/-/linked/ops/meetings/meeting_actions/add", f"/-/linked/hr/{CA}/{CA}/add"],
    r"^/-/transition/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<row_id>\d{1,18})$": [
        "/-/transition/ops/leave_requests/1", f"/-/transition/hr/{CA}/1", "/-/transition/ops/partners/1"],
    # part of the canary: the page echoes the query, and must show no row holding the whole of it
    r"^/-/search$": [f"/-/search?q={CANARY[6:]}", "/-/search?q=保密"],
    r"/(\.(?P<format>json))?$": ["/", "/.json"],
    r"/-/(\.(?P<format>json))?$": ["/-/", "/-/.json"],
    r"/-$": ["/-"],
    r"/favicon.ico": ["/favicon.ico"],
    r"/-/static/(?P<path>.*)$": ["/-/static/app.css"],
    r"/assets/(?P<path>.*)$": ["/assets/taizhang.css"],
    r"/:memory:(?P<rest>.*)$": ["/:memory:", "/:memory:?sql=select+1"],
    r"/-/versions(\.(?P<format>json))?$": ["/-/versions.json"],
    r"/-/plugins(\.(?P<format>json))?$": ["/-/plugins.json"],
    r"/-/settings(\.(?P<format>json))?$": ["/-/settings.json"],
    r"/-/config(\.(?P<format>json))?$": ["/-/config.json"],
    r"/-/threads(\.(?P<format>json))?$": ["/-/threads.json"],
    r"/-/tasks(\.(?P<format>json))?$": ["/-/tasks.json"],
    r"/-/databases(\.(?P<format>json))?$": ["/-/databases.json"],
    r"/-/actor(\.(?P<format>json))?$": ["/-/actor.json"],
    r"/-/actions(\.(?P<format>json))?$": ["/-/actions.json"],
    r"/-/auth-token$": ["/-/auth-token?token=x"],
    r"/-/create-token$": ["/-/create-token"],
    r"/-/api$": ["/-/api"],
    r"/-/jump(\.(?P<format>json))?$": [f"/-/jump.json?q={CA}", f"/-/jump.json?q={CANARY}"],
    r"/-/queries(\.(?P<format>json))?$": ["/-/queries.json"],
    r"/-/schema(\.(?P<format>json|md))?$": ["/-/schema.json", "/-/schema.md"],
    r"/-/logout$": ["/-/logout"],
    r"/-/permissions$": ["/-/permissions"],
    r"/-/allowed(\.(?P<format>json))?$": [f"/-/allowed.json?action=view-table&parent=hr&child={CA}"],
    r"/-/rules(\.(?P<format>json))?$": ["/-/rules.json?action=view-table"],
    r"/-/check(\.(?P<format>json))?$": [f"/-/check.json?action=view-table&parent=hr&child={CA}"],
    r"/-/messages$": ["/-/messages"],
    r"/-/allow-debug$": ["/-/allow-debug"],
    r"/-/patterns$": ["/-/patterns"],
    r"/-/debug/autocomplete$": ["/-/debug/autocomplete"],
    r"/(?P<database>[^\/\.]+)\.db$": ["/hr.db", "/ops.db"],
    r"/(?P<database>[^\/\.]+)(\.(?P<format>\w+))?$": ["/hr", "/hr.json", f"/hr?sql=select+*+from+{CA}", "/ops.json"],
    r"/(?P<database>[^\/\.]+)/-/create$": ["/hr/-/create"],
    r"/(?P<database>[^\/\.]+)/-/foreign-key-targets$": ["/hr/-/foreign-key-targets"],
    r"/(?P<database>[^\/\.]+)/-/queries(\.(?P<format>json))?$": ["/hr/-/queries.json"],
    r"/(?P<database>[^\/\.]+)/-/queries/analyze$": ["/hr/-/queries/analyze"],
    r"/(?P<database>[^\/\.]+)/-/queries/store$": ["/hr/-/queries/store"],
    r"/(?P<database>[^\/\.]+)/-/execute-write/analyze$": ["/hr/-/execute-write/analyze"],
    r"/(?P<database>[^\/\.]+)/-/execute-write$": ["/hr/-/execute-write", "/ops/-/execute-write"],
    r"/(?P<database>[^\/\.]+)/-/schema(\.(?P<format>json|md))?$": ["/hr/-/schema.json", "/hr/-/schema.md"],
    r"/(?P<database>[^\/\.]+)/-/query/parameters$": ["/hr/-/query/parameters?sql=select+:a"],
    r"/(?P<database>[^\/\.]+)/-/query(\.(?P<format>\w+))?$": [
        f"/hr/-/query.json?sql=select+*+from+{CA}", f"/hr/-/query.csv?sql=select+*+from+{CA}",
        "/ops/-/query.json?sql=select+*+from+pragma_database_list",
        "/ops/-/query.json?sql=attach+database+'hr.db'+as+h",
        f"/ops/-/query.json?sql=select+*+from+hr.{CA}",
    ],
    r"/(?P<database>[^\/\.]+)/(?P<query>[^\/\.]+)/-/definition$": ["/hr/expiring_confidentiality_agreements/-/definition"],
    r"/(?P<database>[^\/\.]+)/(?P<query>[^\/\.]+)/-/edit$": ["/hr/expiring_confidentiality_agreements/-/edit"],
    r"/(?P<database>[^\/\.]+)/(?P<query>[^\/\.]+)/-/update$": ["/hr/expiring_confidentiality_agreements/-/update"],
    r"/(?P<database>[^\/\.]+)/(?P<query>[^\/\.]+)/-/delete$": ["/hr/expiring_confidentiality_agreements/-/delete"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)(\.(?P<format>\w+))?$": [
        f"/hr/{CA}", f"/hr/{CA}.json", f"/hr/{CA}.csv", f"/hr/{CA}.xlsx", f"/hr/{CA}.csv?_bom=1",
        f"/hr/{CA}.json?_shape=array", "/hr/expiring_confidentiality_agreements.xlsx",
        f"/hr/{CA}?_facet=party_name", f"/hr/{CA}.json?_search={CANARY}", f"/hr/{CA}.json?_where=1=1",
        f"/hr/{CA}.json?_sort=scope", f"/hr/{CA}.json?_extra=facet_results,columns,count",
        f"/hr/{CA}.json?_through=" + '{"table":"x","column":"y","value":"z"}',
        f"/hr/{CA.upper()}", f"/hr/{CA}~0A", f"/hr/{CA}~0A.json", "/hr/Confidentiality_Agreements.json",
        "/hr/expiring_confidentiality_agreements", "/hr/expiring_confidentiality_agreements.json?days=99999",
        "/hr/_audit_log.json", "/hr/_read_log.json", "/hr/sqlite_master.json",
        "/ops/partners.json", "/ops/_audit_log.json",
    ],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^/]+?)/(?P<pks>[^/]+?)(\.(?P<format>\w+))?$": [
        f"/hr/{CA}/1", f"/hr/{CA}/1.json", f"/hr/{CA}/999999", f"/hr/{CA}/999999.json",
    ],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/insert$": [f"/hr/{CA}/-/insert"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/upsert$": [f"/hr/{CA}/-/upsert"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/alter$": [f"/hr/{CA}/-/alter"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/foreign-key-suggestions$": [f"/hr/{CA}/-/foreign-key-suggestions"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/set-column-type$": [f"/hr/{CA}/-/set-column-type"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/count$": [f"/hr/{CA}/-/count"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/fragment$": [f"/hr/{CA}/-/fragment"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/autocomplete$": [f"/hr/{CA}/-/autocomplete?column=party_name&q=C"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/drop$": [f"/hr/{CA}/-/drop"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^\/\.]+)/-/schema(\.(?P<format>json|md))?$": [f"/hr/{CA}/-/schema.json"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^/]+?)/(?P<pks>[^/]+?)/-/delete$": [f"/hr/{CA}/999999/-/delete", f"/hr/{CA}/1/-/delete"],
    r"/(?P<database>[^\/\.]+)/(?P<table>[^/]+?)/(?P<pks>[^/]+?)/-/update$": [f"/hr/{CA}/1/-/update"],
}
# Every stored query, HTML and JSON, and the in-memory database's usual name.
_CONFIG = yaml.safe_load((REPO / "datasette.yml").read_text(encoding="utf-8"))
EXTRA_URLS = ["/_memory", "/_memory.json?sql=select+1"] + [
    f"/{db}/{query}{suffix}"
    for db, config in _CONFIG["databases"].items() for query in config["queries"] for suffix in ("", ".json")
]
# Reached by anyone, logged in or not: no data behind them.
PUBLIC = {"/-/login", "/-/language", "/favicon.ico", "/-/static/app.css", "/assets/taizhang.css", "/-/logout",
          "/-/actor.json", "/-/jump.json"}  # the last two answer only about the asker
# Pages about the app itself; only admins need them.
ADMIN_ONLY = {
    "/-/versions.json", "/-/plugins.json", "/-/settings.json", "/-/config.json", "/-/threads.json",
    "/-/tasks.json", "/-/databases.json", "/-/actions.json", "/-/permissions", "/-/rules.json?action=view-table",
    "/-/allow-debug", "/-/patterns", "/-/debug/autocomplete", "/-/api", "/-/schema.json", "/-/schema.md",
    "/-/users", "/-/create-token", "/-/queries.json", "/-/messages",
    "/hr/-/schema.json", "/hr/-/schema.md", f"/hr/{CA}/-/schema.json",
}
# Pages that answer anyone about what *they* may do: 200 is fine, content is checked below.
SELF_SERVICE = {"/-/jump.json", "/-/allowed.json", "/-/check.json", "/-/history", "/hr/-/queries.json"}


async def _seed(data_dir: DataDir):
    hr = data_dir.connect("hr")
    columns = [r[1] for r in hr.execute(f"PRAGMA table_info({CA})")
               if r[1] not in ("id", "created_at", "updated_at", "party_kind", "secrecy_level", "status",
                               "signed_on", "effective_on", "expires_on", "employee_no", "partner_name")]
    for i in range(3):
        values = {c: f"{CANARY}-{c}-{i}" for c in columns}
        hr.execute(
            f"INSERT INTO {CA} (party_kind, signed_on, expires_on, status, {', '.join(columns)})"
            f" VALUES ('其他', '2026-01-01', '2026-12-01', '有效', {', '.join('?' * len(columns))})",
            list(values.values()),
        )
    hr.close()


@pytest_asyncio.fixture(scope="module")
async def sweep(tmp_path_factory):
    data_dir = DataDir.resolve(tmp_path_factory.mktemp("sweep"))
    init(data_dir)
    await _seed(data_dir)
    store = data_dir.users()
    for role in ROLES:
        store.add(f"u-{role}", PASSWORD, role)
    store.add("demoted", PASSWORD, "hr")
    store.add("removed", PASSWORD, "hr")
    ds = make_datasette(data_dir)
    await ds.invoke_startup()
    actors = {"anonymous": {}}
    for role in ROLES:
        actors[f"session:{role}"] = {"cookies": {"tz_session": store.start_session(f"u-{role}")}}
        token = await ds.create_token(f"u-{role}", expires_after=3600)
        actors[f"token:{role}"] = {"headers": {"Authorization": f"Bearer {token}"}}
    expired = await ds.create_token("u-hr", expires_after=1)
    actors["expired-token"] = {"headers": {"Authorization": f"Bearer {expired}"}}
    actors["demoted-cookie"] = {"cookies": {"tz_session": store.start_session("demoted")}}
    actors["removed-cookie"] = {"cookies": {"tz_session": store.start_session("removed")}}
    store.set_role("demoted", "viewer")
    store.remove("removed")
    await asyncio.sleep(1.1)  # the expired token expires
    return ds, actors


def _privileged(actor_name: str) -> bool:
    return actor_name.split(":")[-1] in PRIVILEGED


def test_every_route_is_classified(sweep):
    ds, _ = sweep
    served = {route[0].pattern for route in ds._routes()}
    unclassified = served - set(ROUTES)
    assert not unclassified, f"classify these routes in tests/test_sweep.py: {sorted(unclassified)}"


def _cases():
    urls = sorted({url for urls in ROUTES.values() for url in urls} | set(EXTRA_URLS))
    return [(method, url) for url in urls for method in ("GET", "POST")]


ACTOR_NAMES = ["anonymous", *[f"session:{r}" for r in ROLES], *[f"token:{r}" for r in ROLES],
               "expired-token", "demoted-cookie", "removed-cookie"]


@pytest.mark.asyncio
@pytest.mark.parametrize("actor_name", ACTOR_NAMES)
async def test_sweep(sweep, actor_name):
    ds, actors = sweep
    credentials = actors[actor_name]
    failures = []
    for method, url in _cases():
        if method == "POST" and _privileged(actor_name) and re.search(r"/1/-/delete$|/-/drop$|/restore$", url):
            continue  # would really delete the canaries; the 999999 variants still run
        if method == "POST" and url == "/-/logout":
            continue  # would end the session the rest of the sweep uses (tests/test_auth.py covers it)
        kwargs = dict(credentials)
        if method == "POST":
            response = await ds.client.post(url, json={}, **kwargs)
        else:
            response = await ds.client.get(url, **kwargs)
        body = response.text
        path = url.split("?")[0]
        if response.status_code >= 500:
            failures.append(f"{method} {url}: {response.status_code}")
        if not _privileged(actor_name) and CANARY in body:
            failures.append(f"{method} {url}: canary leaked ({response.status_code})")
        confidential = path.startswith(("/hr", "/-/history/hr")) or CA in url
        if confidential and not _privileged(actor_name) and method == "GET" and response.status_code == 200:
            if path not in SELF_SERVICE or f"hr/{CA}" in body or "expiring_confidentiality" in body:
                failures.append(f"{method} {url}: 200 for an actor who may not read it")
        if method == "GET" and url in ADMIN_ONLY and actor_name.split(":")[-1] != "admin" and response.status_code == 200:
            failures.append(f"{method} {url}: admin-only page answered 200")
        if actor_name == "anonymous" and method == "GET" and path not in PUBLIC and response.status_code == 200:
            failures.append(f"{method} {url}: anonymous got 200")
    assert not failures, "\n".join(failures)


@pytest.mark.asyncio
@pytest.mark.parametrize("actor_name", ["session:viewer", "session:editor", "token:manager", "demoted-cookie", "anonymous"])
async def test_forbidden_rows_answer_the_same_whether_they_exist(sweep, actor_name):
    ds, actors = sweep
    for suffix in ("", ".json"):
        existing = await ds.client.get(f"/hr/{CA}/1{suffix}", **actors[actor_name])
        missing = await ds.client.get(f"/hr/{CA}/999999{suffix}", **actors[actor_name])
        assert existing.status_code == missing.status_code
        assert existing.text == missing.text.replace("999999", "1")
    existing = await ds.client.get(f"/-/history/hr/{CA}/1", **actors[actor_name])
    missing = await ds.client.get(f"/-/history/hr/{CA}/999999", **actors[actor_name])
    assert existing.status_code == missing.status_code


@pytest.mark.asyncio
@pytest.mark.parametrize("actor_name", ["session:hr", "session:admin", "token:hr"])
async def test_the_canaries_are_there_for_those_who_may_see_them(sweep, actor_name):
    ds, actors = sweep
    response = await ds.client.get(f"/hr/{CA}.json", **actors[actor_name])
    assert response.status_code == 200 and CANARY in response.text


def test_audit_tables_hold_the_only_copies(sweep):
    """Only audit tables (and search index tables) may hold copies of register values."""
    ds, _ = sweep
    conn = sqlite3.connect(ds.get_database("hr").path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    holders = set()
    for table in tables:
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")]
        text = " || ".join(f"coalesce(CAST([{c}] AS TEXT), '')" for c in columns)
        if conn.execute(f"SELECT count(*) FROM [{table}] WHERE {text} LIKE ?", [f"%{CANARY}%"]).fetchone()[0]:
            holders.add(table)
    # _read_log holds what readers typed (a search for a canary), not rows.
    assert holders <= {CA, "_audit_log", "_read_log"}


@pytest.mark.asyncio
async def test_search_shows_the_canaries_only_to_those_who_may_see_them(sweep):
    ds, actors = sweep
    url = f"/-/search?q={CANARY[6:]}"
    assert CANARY in (await ds.client.get(url, **actors["session:hr"])).text
    assert CANARY not in (await ds.client.get(url, **actors["session:manager"])).text
