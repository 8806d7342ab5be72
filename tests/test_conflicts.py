"""Edit conflicts through the JSON API: the version read goes back in If-Match."""

import pytest

from tests.conftest import actor, backdate

pytestmark = pytest.mark.fast


@pytest.mark.asyncio
async def test_a_stale_update_is_refused_with_who_and_what(empty_ds, empty_data_dir):
    admin, editor = actor("admin"), actor("editor")
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, actor=admin)
    # both read version v1
    conn = empty_data_dir.connect("ops")
    backdate(conn, "partners")   # a version from the past
    v1 = conn.execute("SELECT updated_at FROM partners").fetchone()[0]
    first = await empty_ds.client.post("/ops/partners/1/-/update", json={"update": {"notes": "张三改的", "phone": "13800138000"}},
                                       headers={"If-Match": f'"{v1}"'}, actor=admin)
    assert first.status_code == 200, first.text
    second = await empty_ds.client.post("/ops/partners/1/-/update", json={"update": {"notes": "李四改的"}},
                                        headers={"If-Match": f'"{v1}"'}, actor=editor)
    assert second.status_code == 400
    message = second.json()["errors"][0]
    assert message.startswith("此记录已被 test-admin 于 ") and "备注（合作历史）" in message and "联系电话" in message
    row = (await empty_ds.client.get("/ops/partners/1.json?_shape=array", actor=admin)).json()[0]
    assert row["notes"] == "张三改的"
    # with the current version, or without one (overwrite), it goes through
    current = row["updated_at"]
    ok = await empty_ds.client.post("/ops/partners/1/-/update", json={"update": {"notes": "李四改的"}},
                                    headers={"If-Match": current}, actor=editor)
    assert ok.status_code == 200
    overwrite = await empty_ds.client.post("/ops/partners/1/-/update", json={"update": {"notes": "覆盖"}}, actor=editor)
    assert overwrite.status_code == 200


@pytest.mark.asyncio
async def test_a_stale_delete_is_refused(empty_ds, empty_data_dir):
    admin = actor("admin")
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, actor=admin)
    response = await empty_ds.client.post("/ops/partners/1/-/delete", headers={"If-Match": "2000-01-01T00:00:00Z"}, actor=admin)
    assert response.status_code == 400 and "此记录已被" in response.json()["errors"][0]
