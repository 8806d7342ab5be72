"""Every unsafe route — core's, the plugins', login and logout — refuses a cross-site request
even when it carries a valid session cookie."""

import pytest
import pytest_asyncio

pytestmark = pytest.mark.fast
PASSWORD = "Csrf-pass-123"
UNSAFE_ROUTES = [
    "/-/login", "/-/logout", "/-/account", "/-/users", "/-/create-token",
    "/-/history/ops/partners/1/restore",
    "/ops/partners/-/insert", "/ops/partners/-/upsert", "/ops/partners/1/-/update", "/ops/partners/1/-/delete",
    "/ops/partners/-/alter", "/ops/partners/-/drop", "/ops/partners/-/set-column-type", "/ops/-/create",
    "/ops/-/execute-write", "/ops/-/queries/store", "/ops/customer_tier_overview/-/update",
    "/ops/customer_tier_overview/-/delete", "/ops/customer_tier_overview",
]
CROSS_SITE = [
    {"sec-fetch-site": "cross-site"},
    {"origin": "https://evil.example"},
    {"sec-fetch-site": "cross-site", "origin": "https://evil.example"},
]


@pytest_asyncio.fixture
async def csrf_ds(empty_ds, empty_data_dir):
    store = empty_data_dir.users()
    store.add("boss", PASSWORD, "admin")
    empty_ds._cookie = {"tz_session": store.start_session("boss")}
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, cookies=empty_ds._cookie)
    return empty_ds


@pytest.mark.asyncio
@pytest.mark.parametrize("path", UNSAFE_ROUTES)
async def test_cross_site_requests_are_refused(csrf_ds, path):
    for headers in CROSS_SITE:
        for body in ({"json": {"row": {"name": "乙"}, "update": {"name": "乙"}, "sql": "delete from partners"}},
                     {"data": {"username": "boss", "password": PASSWORD, "action": "remove"}}):
            response = await csrf_ds.client.post(path, headers=headers, cookies=csrf_ds._cookie, **body)
            assert response.status_code == 403, (path, headers, response.status_code, response.text[:200])
    rows = await csrf_ds.client.get("/ops/partners.json?_shape=array", cookies=csrf_ds._cookie)
    assert [r["name"] for r in rows.json()] == ["甲"]             # nothing was changed
    assert (await csrf_ds.client.get("/ops.json", cookies=csrf_ds._cookie)).status_code == 200  # still logged in


@pytest.mark.asyncio
async def test_same_origin_requests_pass(csrf_ds):
    response = await csrf_ds.client.post(
        "/ops/partners/1/-/update", json={"update": {"notes": "ok"}}, cookies=csrf_ds._cookie,
        headers={"sec-fetch-site": "same-origin", "origin": "http://localhost"})
    assert response.status_code == 200
