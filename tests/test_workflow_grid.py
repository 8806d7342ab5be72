"""The grid cannot move a process: its cell endpoint refuses a state change (the row page's buttons
do that, with the comment the step may need), and content edits it sends in a frozen state are
refused by the database's workflow rule, said in Chinese next to the cell."""

import pytest

from tests.test_transitions import APPLICANT, HEAD, _insert, _leave, _org, _state

pytestmark = pytest.mark.fast


async def _cells(ds, who, changes):
    return await ds.client.post("/-/cells/ops/leave_requests", json={"changes": changes}, actor=who)


@pytest.mark.asyncio
async def test_the_grid_refuses_a_state_change_even_for_the_approver(empty_ds):
    people = await _org(empty_ds)
    submitted = await _leave(empty_ds, people, status="已提交")
    response = await _cells(empty_ds, HEAD, [{"id": submitted, "column": "status", "value": "已批准"}])
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"].startswith("审批状态请在记录页用办理按钮变更")
    assert await _state(empty_ds, "leave_requests", submitted) == "已提交"


@pytest.mark.asyncio
async def test_an_edit_of_a_submitted_request_from_the_grid_is_refused_by_the_database(empty_ds):
    people = await _org(empty_ds)
    submitted = await _leave(empty_ds, people, status="已提交")
    draft = await _insert(empty_ds, "leave_requests", {
        "applicant_id": people["00004"], "kind": "年假", "starts_on": "2026-12-21", "ends_on": "2026-12-22",
        "reason": "家中有事", "status": "草稿"}, who=APPLICANT)
    refused = await _cells(empty_ds, APPLICANT, [{"id": submitted, "column": "reason", "value": "改个理由"}])
    assert refused.status_code == 400, refused.text
    assert refused.json()["errors"][0]["message"] == "「已提交」的请假申请不能修改；需要修改请先撤回（改为「草稿」）"
    # The same edit of a draft, by the applicant, is fine.
    saved = await _cells(empty_ds, APPLICANT, [{"id": draft, "column": "reason", "value": "改个理由"}])
    assert saved.status_code == 200, saved.text
    rows = (await empty_ds.client.get("/ops/leave_requests.json?_shape=array", actor=HEAD)).json()
    assert {r["id"]: r["reason"] for r in rows} == {submitted: "家中有事", draft: "改个理由"}
