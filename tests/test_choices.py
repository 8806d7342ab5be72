"""The reference picker's endpoint: labels people know (张伟（00012）· 市场部), search by label
and key in 简 and 繁, and only for people who may write the register and read the target."""

import pytest

from tests.conftest import actor

pytestmark = pytest.mark.fast

URL = "/-/choices/ops/partners/owner_id"


async def _staff(ds):
    admin = actor("admin")
    await ds.client.post("/ops/departments/-/insert", json={"row": {"name": "市场部"}}, actor=admin)
    await ds.client.post("/ops/employees/-/insert", json={"rows": [
        {"employee_no": "00012", "name": "张伟", "department_id": 1},
        {"employee_no": "00013", "name": "李娜"},
        *[{"employee_no": f"1{i:04d}", "name": f"王{i}"} for i in range(30)],
    ]}, actor=admin)


@pytest.mark.asyncio
@pytest.mark.parametrize("query", ["张", "张伟", "張偉", "0001", "市场"])
async def test_search_by_label_key_and_detail_in_both_scripts(empty_ds, query):
    await _staff(empty_ds)
    response = await empty_ds.client.get(URL, params={"q": query}, actor=actor("editor"))
    assert response.status_code == 200
    assert {"id": 1, "label": "张伟（00012）· 市场部"} in response.json()["choices"]


@pytest.mark.asyncio
async def test_best_first_limited_and_by_id(empty_ds):
    await _staff(empty_ds)
    editor = actor("editor")
    everyone = (await empty_ds.client.get(URL, actor=editor)).json()["choices"]
    assert len(everyone) == 20
    found = (await empty_ds.client.get(URL, params={"q": "王1"}, actor=editor)).json()["choices"]
    assert found[0]["label"].startswith("王1") and all("王" in c["label"] for c in found)
    assert (await empty_ds.client.get(URL, params={"q": "没有这个人"}, actor=editor)).json() == {"choices": []}
    one = (await empty_ds.client.get(URL, params={"id": "2"}, actor=editor)).json()
    assert one == {"choices": [{"id": 2, "label": "李娜（00013）"}]}
    bad = await empty_ds.client.get(URL, params={"id": "x"}, actor=editor)
    assert bad.status_code == 400 and "id 应为整数" in bad.json()["error"]
    # digits SQLite cannot hold, or that int() cannot read ("²" is a digit to str.isdigit)
    for garbage in ("9" * 30, "²", "-1"):
        refused = await empty_ds.client.get(URL, params={"id": garbage}, actor=editor)
        assert refused.status_code == 400 and "id 应为整数" in refused.json()["error"], garbage


@pytest.mark.asyncio
async def test_only_for_writers_who_may_read_the_target(empty_ds):
    await _staff(empty_ds)
    for role in ("viewer", "analyst"):   # may read, may not write partners
        response = await empty_ds.client.get(URL, params={"q": "张"}, actor=actor(role))
        assert response.status_code == 403 and "张伟" not in response.text
    assert (await empty_ds.client.get(URL, params={"q": "张"})).status_code == 403   # anonymous
    # editor may not write employees: no picker for its department field
    assert (await empty_ds.client.get("/-/choices/ops/employees/department_id", actor=actor("editor"))).status_code == 403
    assert (await empty_ds.client.get("/-/choices/ops/employees/department_id", actor=actor("hr"))).status_code == 200
    # the confidential register: refused as if it did not exist for those outside hr/admin
    ca = "/-/choices/hr/confidentiality_agreements/employee_no"
    missing = "/-/choices/hr/no_such_register/employee_no"
    refused, absent = (await empty_ds.client.get(ca, actor=actor("editor"))), (await empty_ds.client.get(missing, actor=actor("editor")))
    assert refused.status_code == absent.status_code == 403 and refused.json() == absent.json()
    not_a_reference = await empty_ds.client.get(ca, actor=actor("hr"))
    assert not_a_reference.status_code == 400 and "不是引用字段" in not_a_reference.json()["error"]
    assert (await empty_ds.client.post(URL, json={}, actor=actor("editor"))).status_code == 405


@pytest.mark.asyncio
async def test_the_form_select_uses_the_same_labels(empty_ds):
    await _staff(empty_ds)
    page = (await empty_ds.client.get("/-/form/ops/partners", actor=actor("editor"))).text
    assert '<option value="1">张伟（00012）· 市场部</option>' in page
    assert 'data-picker-url="/-/choices/ops/partners/owner_id"' in page
