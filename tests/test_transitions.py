"""A register's process on its pages (plugins/transitions.py): the row page's state, timeline and
buttons for the transitions the reader may take, POST /-/transition/… writing the state change
through the audited write path with the comment as its note, the database's refusals said in
Chinese with their kind, and the table grid's link to the buttons."""

import json
import sqlite3
import re

import pytest

from tests.conftest import actor

pytestmark = pytest.mark.fast

ADMIN = actor("admin")
# 陈静 (00004) works in 客户运营组, headed by 李娜 (00002); 王建国 (00001) heads 运营部 above it.
APPLICANT = {"id": "t-chen", "roles": ["employee"], "employee_no": "00004"}
HEAD = {"id": "t-li", "roles": ["employee", "department_head"], "employee_no": "00002"}
LEADER = {"id": "t-wang", "roles": ["leader"], "employee_no": "00001"}
FINANCE = {"id": "t-zhao", "roles": ["finance"], "employee_no": "00005"}
COLLEAGUE = {"id": "t-zhou", "roles": ["employee"], "employee_no": "00006"}
JSON = {"accept": "application/json"}


async def _insert(ds, table, row, who=ADMIN):
    response = await ds.client.post(f"/ops/{table}/-/insert", json={"row": row}, actor=who)
    assert response.status_code == 201, response.text
    return response.json()["rows"][0]["id"]


async def _org(ds):
    top = await _insert(ds, "departments", {"name": "运营部"})
    group = await _insert(ds, "departments", {"name": "客户运营组", "parent_id": top})
    people = {}
    for no, name, dept in [("00001", "王建国", top), ("00002", "李娜", group), ("00004", "陈静", group),
                           ("00005", "赵会计", top), ("00006", "周同事", group)]:
        people[no] = await _insert(ds, "employees", {"employee_no": no, "name": name, "department_id": dept})
    for dept, head in ((top, "00001"), (group, "00002")):
        response = await ds.client.post(f"/ops/departments/{dept}/-/update", json={"update": {"manager_id": people[head]}},
                                        actor=ADMIN)
        assert response.status_code == 200, response.text
    return people


async def _leave(ds, people, days=2, status="草稿"):
    return await _insert(ds, "leave_requests", {
        "applicant_id": people["00004"], "kind": "事假", "starts_on": "2026-12-07", "ends_on": "2026-12-11",
        "days": days, "reason": "家中有事", "status": status}, who=APPLICANT)


async def _move(ds, who, table, row_id, source, target, comment="", headers=None):
    return await ds.client.post(f"/-/transition/ops/{table}/{row_id}", data={
        "from": source, "target": target, "comment": comment}, actor=who, headers=headers or {})


async def _state(ds, table, row_id):
    rows = (await ds.client.get(f"/ops/{table}/{row_id}.json?_shape=array", actor=ADMIN)).json()
    return rows[0]["status"]


def _buttons(html: str) -> list[tuple[str, str]]:
    """(target state, button word) of each workflow button on a page."""
    return re.findall(r'<button type="submit" name="target" value="([^"]+)"[^>]*>([^<]+)</button>', html)


async def _page_after(ds, response, who):
    """Follow a redirect the way a browser does, with the message cookie it set."""
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    return (await ds.client.get(location.split("#")[0], actor=who,
                                cookies={"ds_messages": response.cookies.get("ds_messages", "")})).text


@pytest.mark.asyncio
async def test_the_row_page_shows_the_state_and_only_the_readers_own_buttons(empty_ds, empty_data_dir):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people)
    mine = (await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=APPLICANT)).text
    assert '<section class="workflow" id="workflow"' in mine and "<strong data-state>草稿</strong>" in mine
    assert _buttons(mine) == [("已提交", "提交")]
    assert "提交：草稿 → 已提交" in mine
    # The creation is the first line of the timeline, with who did it: a login with no
    # account (or none linked to an employee) by its name, one linked by its employee's name.
    assert re.search(r"<td data-label=\"办理人\">t-chen<small>（员工）</small></td>\s*<td data-label=\"动作\">新增</td>", mine)
    empty_data_dir.users().add("t-chen", "Transition-pass-1", "employee", employee_no="00004")
    mine = (await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=APPLICANT)).text
    assert re.search(r"<td data-label=\"办理人\">陈静<small>（t-chen，员工）</small></td>\s*<td data-label=\"动作\">新增</td>", mine)
    # The department head reads the draft but has nothing to do with it yet.
    theirs = (await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=HEAD)).text
    assert "<strong data-state>草稿</strong>" in theirs and _buttons(theirs) == []


@pytest.mark.asyncio
async def test_submit_then_approve_records_each_step_with_who_and_comment(empty_ds):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people, days=2)
    response = await _move(empty_ds, APPLICANT, "leave_requests", row, "草稿", "已提交")
    assert response.headers["location"].endswith(f"/ops/leave_requests/{row}#workflow")
    page = await _page_after(empty_ds, response, APPLICANT)
    assert "已提交：审批状态 草稿 → 已提交" in page
    assert await _state(empty_ds, "leave_requests", row) == "已提交"
    head_page = (await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=HEAD)).text
    # Two days: 通过 goes straight to 已批准 (the other 通过, for more than 3 days, is not offered).
    assert _buttons(head_page) == [("已批准", "通过"), ("已退回", "退回"), ("已驳回", "驳回")]
    assert "通过：已提交 → 已批准（请假不超过 3 天）" in head_page
    assert "（退回、驳回须填写）" in head_page
    assert (await _move(empty_ds, HEAD, "leave_requests", row, "已提交", "已批准", "同意，注意交接")).status_code == 302
    assert await _state(empty_ds, "leave_requests", row) == "已批准"
    done = (await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=APPLICANT)).text
    assert _buttons(done) == []
    steps = re.findall(r'<td data-label="动作">([^<]*)</td>\s*<td data-label="从 → 到">([^<]*)</td>\s*'
                       r'<td data-label="意见" class="workflow-comment">([^<]*)</td>', done)
    assert steps == [("新增", "草稿", ""), ("提交", "草稿 → 已提交", ""), ("通过", "已提交 → 已批准", "同意，注意交接")]
    # The audit log has the comment as the note of the head's write.
    log = (await empty_ds.client.get(
        "/ops/-/query.json?_shape=array&sql=" + "select actor, source, note from _audit_log where table_name = 'leave_requests'"
        " and operation = 'update' order by id", actor=ADMIN)).json()
    assert log[-1] == {"actor": "t-li", "source": "ui", "note": "同意，注意交接"}


@pytest.mark.asyncio
async def test_more_than_three_days_goes_on_to_the_leader(empty_ds):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people, days=5, status="已提交")
    head_page = (await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=HEAD)).text
    assert ("部门已审核", "通过") in _buttons(head_page) and ("已批准", "通过") not in _buttons(head_page)
    await _move(empty_ds, HEAD, "leave_requests", row, "已提交", "部门已审核")
    assert _buttons((await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=HEAD)).text) == []
    leader_page = (await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=LEADER)).text
    assert _buttons(leader_page) == [("已批准", "批准"), ("已退回", "退回"), ("已驳回", "驳回")]
    await _move(empty_ds, LEADER, "leave_requests", row, "部门已审核", "已批准")
    assert await _state(empty_ds, "leave_requests", row) == "已批准"


@pytest.mark.asyncio
async def test_a_forged_approval_is_refused_by_the_database_in_chinese(empty_ds):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people, status="已提交")
    response = await _move(empty_ds, APPLICANT, "leave_requests", row, "已提交", "已批准", headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "kind": "not_allowed",
                               "message": "不能把请假申请从「已提交」改为「已批准」：「通过」只能由申请人的部门负责人办理"}
    # The browser's way: back to the row page, the refusal shown there, the state unchanged.
    page = await _page_after(empty_ds, await _move(empty_ds, APPLICANT, "leave_requests", row, "已提交", "已批准"), APPLICANT)
    assert "未能办理：不能把请假申请从「已提交」改为「已批准」：「通过」只能由申请人的部门负责人办理" in page
    assert await _state(empty_ds, "leave_requests", row) == "已提交"
    # A colleague in the same department is no head either.
    other = await _move(empty_ds, COLLEAGUE, "leave_requests", row, "已提交", "已批准", headers=JSON)
    assert other.json()["kind"] in ("not_allowed", "forbidden")
    assert await _state(empty_ds, "leave_requests", row) == "已提交"


@pytest.mark.asyncio
async def test_return_needs_a_comment_then_the_applicant_resubmits(empty_ds):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people, status="已提交")
    bare = await _move(empty_ds, HEAD, "leave_requests", row, "已提交", "已退回", "  ", headers=JSON)
    assert bare.status_code == 400 and bare.json()["kind"] == "comment"
    assert "「退回」需要填写说明（原因）" in bare.json()["message"]
    await _move(empty_ds, HEAD, "leave_requests", row, "已提交", "已退回", "请补充交接人<script>alert(1)</script>")
    assert await _state(empty_ds, "leave_requests", row) == "已退回"
    page = (await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=APPLICANT)).text
    # The comment is shown as text, never as markup.
    assert "请补充交接人&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert _buttons(page) == [("已提交", "提交")]
    # The applicant may edit a returned request (form), then submit it again.
    response = await empty_ds.client.post(f"/ops/leave_requests/{row}/-/update",
                                          json={"update": {"handover": "周同事"}}, actor=APPLICANT)
    assert response.status_code == 200, response.text
    await _move(empty_ds, APPLICANT, "leave_requests", row, "已退回", "已提交")
    assert await _state(empty_ds, "leave_requests", row) == "已提交"


@pytest.mark.asyncio
async def test_a_page_showing_an_old_state_changes_nothing(empty_ds):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people, status="已提交")
    await _move(empty_ds, APPLICANT, "leave_requests", row, "已提交", "草稿")   # 撤回
    # The head's page still showed 已提交: the approval from it must not act on the draft.
    stale = await _move(empty_ds, HEAD, "leave_requests", row, "已提交", "已批准", headers=JSON)
    assert stale.status_code == 409 and stale.json()["kind"] == "stale"
    assert "已不是「已提交」" in stale.json()["message"]
    assert await _state(empty_ds, "leave_requests", row) == "草稿"


@pytest.mark.asyncio
@pytest.mark.parametrize("form,message", [
    ({"from": "已提交", "target": "已完成"}, "「已完成」不是请假申请的审批状态"),
    ({"target": "已批准"}, "缺少当前审批状态"),
    ({"from": "已提交", "target": "已批准", "comment": "很" * 2001}, "意见过长（2001 字），最多 2000 字"),
])
async def test_malformed_posts_are_refused_in_chinese(empty_ds, form, message):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people, status="已提交")
    response = await empty_ds.client.post(f"/ops/leave_requests/{row}".replace("/ops/", "/-/transition/ops/"),
                                          data=form, actor=HEAD, headers=JSON)
    assert response.status_code == 400 and response.json()["kind"] == "input"
    assert message in response.json()["message"]
    assert await _state(empty_ds, "leave_requests", row) == "已提交"


@pytest.mark.asyncio
async def test_no_update_right_no_buttons_and_403(empty_ds):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people, status="已提交")
    viewer = actor("viewer")
    response = await _move(empty_ds, viewer, "leave_requests", row, "已提交", "已批准")
    assert response.status_code == 403 and response.text == "没有办理请假申请的权限"
    assert (await empty_ds.client.get(f"/-/transition/ops/leave_requests/{row}", actor=HEAD)).status_code == 405
    assert (await empty_ds.client.post("/-/transition/ops/employees/1", data={}, actor=ADMIN)).status_code == 404
    assert await _state(empty_ds, "leave_requests", row) == "已提交"


@pytest.mark.asyncio
async def test_expense_claim_passes_head_finance_and_leader(empty_ds):
    people = await _org(empty_ds)
    row = await _insert(empty_ds, "expense_claims", {
        "claim_no": "BX-2026-001", "applicant_id": people["00004"], "category": "差旅费", "amount": 6800,
        "incurred_on": "2026-11-18", "description": "上海客户拜访", "status": "已提交"}, who=APPLICANT)
    steps = [(HEAD, "已提交", "部门已审核", "审核通过"), (FINANCE, "部门已审核", "财务已审核", "审核通过"),
             (LEADER, "财务已审核", "已批准", "批准"), (FINANCE, "已批准", "已支付", "支付")]
    for who, source, target, word in steps:
        page = (await empty_ds.client.get(f"/ops/expense_claims/{row}", actor=who)).text
        assert (target, word) in _buttons(page), (who["id"], _buttons(page))
        response = await _move(empty_ds, who, "expense_claims", row, source, target)
        assert response.status_code == 302
        assert await _state(empty_ds, "expense_claims", row) == target
    page = (await empty_ds.client.get(f"/ops/expense_claims/{row}", actor=APPLICANT)).text
    assert re.findall(r'<td data-label="办理人">([^<]+)<', page) == ["t-chen", "t-li", "t-zhao", "t-wang", "t-zhao"]


@pytest.mark.asyncio
async def test_the_grid_links_the_state_to_the_buttons_and_keeps_it_read_only(empty_ds):
    people = await _org(empty_ds)
    submitted = await _leave(empty_ds, people, status="已提交")
    page = (await empty_ds.client.get("/ops/leave_requests", actor=HEAD)).text
    assert (f'<a class="workflow-act" href="/ops/leave_requests/{submitted}#workflow" '
            'title="到记录页办理（通过、退回、驳回）">办理：通过、退回、驳回</a>') in page
    # The applicant has nothing to do with a submitted request but 撤回.
    mine = (await empty_ds.client.get("/ops/leave_requests", actor=APPLICANT)).text
    assert "办理：撤回</a>" in mine and "办理：通过" not in mine
    config, _ = json.JSONDecoder().raw_decode(page.split("window.taizhangGrid = ", 1)[1])
    assert "status" not in config["columns"] and "status" in config["readOnly"]
    assert config["readOnlyReasons"]["status"].startswith("审批状态请在记录页用办理按钮变更")


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [
    b"target=%FF%FE&from=%FF", b"target=\x00&from=\x00&comment=\x00", b"target=" + b"A" * 10000,
    b"{\"target\": \"\xe5\xb7\xb2\xe6\x89\xb9\xe5\x87\x86\"}", b"target=%E5%B7%B2%E6%89%B9%E5%87%86&from=%00", b"",
    b"target=%E5%B7%B2%E6%89%B9%E5%87%86&target=%E8%8D%89%E7%A8%BF&from=%E5%B7%B2%E6%8F%90%E4%BA%A4",
])
async def test_hostile_bodies_are_refused_never_a_500(empty_ds, body):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people, status="已提交")
    for headers in (JSON, {}):
        response = await empty_ds.client.post(f"/-/transition/ops/leave_requests/{row}", content=body, actor=HEAD,
                                              headers={"content-type": "application/x-www-form-urlencoded", **headers})
        assert response.status_code < 500, response.text
    assert await _state(empty_ds, "leave_requests", row) in ("已提交", "已批准")


@pytest.mark.asyncio
async def test_a_row_that_does_not_exist_or_an_id_beyond_sqlite_is_no_500(empty_ds):
    await _org(empty_ds)
    missing = await _move(empty_ds, HEAD, "leave_requests", 999999, "已提交", "已批准", headers=JSON)
    assert missing.status_code == 409 and missing.json()["kind"] == "stale"
    huge = await empty_ds.client.post("/-/transition/ops/leave_requests/99999999999999999999", data={}, actor=HEAD)
    assert huge.status_code == 404


@pytest.mark.asyncio
async def test_the_panel_in_english(empty_ds):
    people = await _org(empty_ds)
    row = await _leave(empty_ds, people, status="已提交")
    page = (await empty_ds.client.get(f"/ops/leave_requests/{row}", actor=HEAD, cookies={"tz_lang": "en"})).text
    for english in ("Process", "Steps taken", "<th scope=\"col\">By</th>", "From → to", "(required for 退回、驳回)",
                    "退回: 已提交 → 已退回, a comment is required"):
        assert english in page, english
    # The action words and states are the definition's: shown as they are.
    assert _buttons(page) == [("已批准", "通过"), ("已退回", "退回"), ("已驳回", "驳回")]


@pytest.mark.asyncio
async def test_a_busy_database_is_said_as_busy_by_its_error_code(empty_ds, tmp_path, monkeypatch):
    """The transition and the grid tell a busy database (503, try again) from a refusal by
    SQLite's error code, not by the words of its message."""
    from datasette.database import Database

    from taizhang.messages import BUSY
    from tests.test_fuzz import _real_busy_error

    people = await _org(empty_ds)
    row = await _leave(empty_ds, people)
    busy = _real_busy_error(tmp_path)
    assert busy.sqlite_errorname == "SQLITE_BUSY"

    async def refuse(self, fn, **kwargs):
        raise busy

    monkeypatch.setattr(Database, "execute_write_fn", refuse)
    moved = await _move(empty_ds, APPLICANT, "leave_requests", row, "草稿", "已提交", headers=JSON)
    assert (moved.status_code, moved.json()["message"]) == (503, BUSY)
    grid = await empty_ds.client.post("/-/cells/ops/leave_requests", actor=APPLICANT,
                                      json={"changes": [{"id": row, "column": "reason", "value": "另有安排"}]})
    assert grid.json()["message"] == BUSY and [e["column"] for e in grid.json()["errors"]] == ["reason"]
    # A refusal whose words mention a lock is still a refusal of the row, not a busy database.
    worded = sqlite3.IntegrityError("仓库 locked 区不能存放")

    async def refuse_worded(self, fn, **kwargs):
        raise worded

    monkeypatch.setattr(Database, "execute_write_fn", refuse_worded)
    moved = await _move(empty_ds, APPLICANT, "leave_requests", row, "草稿", "已提交", headers=JSON)
    assert (moved.status_code, moved.json()["message"]) == (400, "仓库 locked 区不能存放")
