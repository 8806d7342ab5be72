"""The processes in the database (taizhang/workflow.py): state changes follow the transitions of
db/registers.yml for the people they name, on every write path; content freezes outside the
editable states; inserts start in an initial state; on_transition and rollup keep other registers
up to date; available() and timeline() read the same rules and the audit log.

The people: 运营部 (head 经理 00001) above 客户运营组 (head 组长 00002), whose staff is 员工 00003
and 同事 00006; 财务 00004 and 领导 00005 sit in 运营部."""

import datetime
import sqlite3

import pytest

from taizhang import audit, clock, workflow
from taizhang.datadir import init
from taizhang.importer.engine import import_files
from taizhang.registers import load
from tests.conftest import actor, xlsx_bytes

pytestmark = pytest.mark.fast

DEFINITION = load()
REG = DEFINITION.registers
MANAGER, HEAD, STAFF, FINANCE, LEADER, COLLEAGUE = 1, 2, 3, 4, 5, 6


def who(employee_no=None, *roles, note=None) -> audit.Who:
    return audit.Who(actor=f"test-{employee_no or roles[0]}", role=roles[0] if roles else None, source="cli",
                     note=note, employee_no=employee_no, roles=roles)


ADMIN = who(None, "admin")
STAFF_W = who("00003", "employee")
COLLEAGUE_W = who("00006", "employee")
HEAD_W = who("00002", "employee", "department_head")
MANAGER_W = who("00001", "manager", "department_head")
FINANCE_W = who("00004", "finance")
LEADER_W = who("00005", "leader")


class Ops:
    """ops.db of a fresh data dir, written through audit.audited() as the app's CLI does."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.conn = data_dir.connect("ops")
        self.key = audit.key_from_secret(data_dir.secret())

    def write(self, writer: audit.Who, sql: str, *params):
        with audit.audited(self.conn, writer, self.key):
            return self.conn.execute(sql, params).lastrowid

    def refused(self, writer: audit.Who, sql: str, *params) -> tuple[str, str]:
        """(kind, sentence) of the workflow refusal the write meets; nothing is changed."""
        before = self.conn.execute("SELECT count(*) FROM _audit_log").fetchone()[0]
        with pytest.raises(sqlite3.IntegrityError) as caught:
            self.write(writer, sql, *params)
        assert self.conn.execute("SELECT count(*) FROM _audit_log").fetchone()[0] == before
        return kind_of(str(caught.value)), str(caught.value)

    def one(self, sql: str, *params):
        return self.conn.execute(sql, params).fetchone()[0]


def kind_of(message: str) -> str:
    for reg in REG.values():
        if message in workflow.refusals(reg):
            return workflow.refusals(reg)[message]
    raise AssertionError(f"not a workflow refusal: {message}")


@pytest.fixture
def ops(empty_data_dir):
    db = Ops(empty_data_dir)
    db.write(ADMIN, "INSERT INTO departments (id, name) VALUES (1, '运营部'), (2, '客户运营组')")
    db.write(ADMIN, "INSERT INTO employees (id, employee_no, name, department_id) VALUES"
                    " (1, '00001', '经理', 1), (2, '00002', '组长', 2), (3, '00003', '员工', 2),"
                    " (4, '00004', '财务', 1), (5, '00005', '领导', 1), (6, '00006', '同事', 2)")
    db.write(ADMIN, "UPDATE departments SET manager_id = 1 WHERE id = 1")
    db.write(ADMIN, "UPDATE departments SET manager_id = 2, parent_id = 1 WHERE id = 2")
    yield db
    db.conn.close()


LEAVE = ("INSERT INTO leave_requests (applicant_id, kind, starts_on, ends_on, days, reason, status)"
         " VALUES (?, '事假', '2026-11-23', '2026-11-30', ?, '家中有事', ?)")


def leave(ops, days=2, applicant=STAFF, writer=STAFF_W, status=None) -> int:
    return ops.write(writer, LEAVE, applicant, days, status)


def state(ops, table, row_id):
    return ops.one(f"SELECT status FROM {table} WHERE id = ?", row_id)


def set_state(table, value):
    return f"UPDATE {table} SET status = '{value}' WHERE id = ?"


# -- leave requests ---------------------------------------------------------------------------
def test_a_short_leave_is_approved_by_the_applicants_department_head(ops):
    row = leave(ops, days=2)
    assert state(ops, "leave_requests", row) == "草稿"   # left blank: the first initial state
    assert [t.action for t in workflow.available(ops.conn, REG["leave_requests"], row, STAFF_W)] == ["提交"]
    ops.write(STAFF_W, set_state("leave_requests", "已提交"), row)
    assert ops.refused(STAFF_W, set_state("leave_requests", "已批准"), row) == (
        "not_allowed", "不能把请假申请从「已提交」改为「已批准」：「通过」只能由申请人的部门负责人办理")
    # the head of another department is no department head of this applicant, and admin is no one special
    assert ops.refused(MANAGER_W, set_state("leave_requests", "已批准"), row)[0] == "not_allowed"
    assert ops.refused(ADMIN, set_state("leave_requests", "已批准"), row)[0] == "not_allowed"
    assert {t.target for t in workflow.available(ops.conn, REG["leave_requests"], row, HEAD_W)} == {"已批准", "已退回", "已驳回"}
    ops.write(HEAD_W, set_state("leave_requests", "已批准"), row)
    assert state(ops, "leave_requests", row) == "已批准"
    assert workflow.available(ops.conn, REG["leave_requests"], row, HEAD_W) == []


def test_a_long_leave_goes_through_the_department_then_a_leader(ops):
    row = leave(ops, days=5, status="已提交")
    kind, message = ops.refused(HEAD_W, set_state("leave_requests", "已批准"), row)
    assert (kind, message) == ("condition", "不能把请假申请从「已提交」改为「已批准」：「通过」的条件是「请假不超过 3 天」，这条请假申请不满足")
    assert [t.target for t in workflow.available(ops.conn, REG["leave_requests"], row, HEAD_W) if t.action == "通过"] == ["部门已审核"]
    ops.write(HEAD_W, set_state("leave_requests", "部门已审核"), row)
    assert ops.refused(HEAD_W, set_state("leave_requests", "已批准"), row)[0] == "not_allowed"
    ops.write(LEADER_W, set_state("leave_requests", "已批准"), row)
    assert state(ops, "leave_requests", row) == "已批准"


def test_a_department_heads_own_leave_goes_to_the_head_above(ops):
    row = leave(ops, days=1, applicant=HEAD, writer=HEAD_W, status="已提交")
    assert ops.refused(HEAD_W, set_state("leave_requests", "已批准"), row)[0] == "not_allowed"
    ops.write(MANAGER_W, set_state("leave_requests", "已批准"), row)


def test_a_state_no_transition_leads_to_is_refused(ops):
    row = leave(ops)
    assert ops.refused(STAFF_W, set_state("leave_requests", "已批准"), row) == (
        "transition", "不能把请假申请从「草稿」改为「已批准」：「草稿」只能提交（改为「已提交」）")
    ops.write(STAFF_W, set_state("leave_requests", "已提交"), row)
    ops.write(HEAD_W, set_state("leave_requests", "已批准"), row)
    kind, message = ops.refused(ADMIN, set_state("leave_requests", "草稿"), row)   # admin is not special
    assert (kind, "已办结" in message) == ("transition", True)
    assert ops.refused(ADMIN, "UPDATE leave_requests SET status = NULL WHERE id = ?", row)[0] == "transition"


def test_a_synonym_of_a_state_is_the_state(ops):
    row = leave(ops)
    ops.write(STAFF_W, set_state("leave_requests", "提交"), row)   # 提交 is a synonym of 已提交
    assert state(ops, "leave_requests", row) == "已提交"


def test_send_back_needs_a_comment_which_the_audit_log_keeps(ops):
    row = leave(ops, status="已提交")
    assert ops.refused(HEAD_W, set_state("leave_requests", "已退回"), row) == (
        "comment", "不能把请假申请从「已提交」改为「已退回」：「退回」需要填写说明（原因），请填写后再办理")
    assert ops.refused(who("00002", "employee", "department_head", note=" \u3000"),
                       set_state("leave_requests", "已退回"), row)[0] == "comment"
    ops.write(who("00002", "employee", "department_head", note="请补充交接人"), set_state("leave_requests", "已退回"), row)
    ops.write(STAFF_W, "UPDATE leave_requests SET handover = '交给同事', status = '已提交' WHERE id = ?", row)
    steps = workflow.timeline(ops.conn, REG["leave_requests"], row)
    assert [(s["from"], s["to"], s["action"], s["actor"], s["comment"]) for s in steps] == [
        (None, "已提交", "新增", "test-00003", None),
        ("已提交", "已退回", "退回", "test-00002", "请补充交接人"),
        ("已退回", "已提交", "提交", "test-00003", None),
    ]
    note = ops.one("SELECT note FROM _audit_log WHERE table_name = 'leave_requests' AND json_extract(after, '$.status') = '已退回'")
    assert note == "请补充交接人"


# -- inserts and edits ------------------------------------------------------------------------
def test_a_new_row_starts_in_an_initial_state_written_by_whom_create_by_names(ops):
    assert ops.refused(STAFF_W, LEAVE, STAFF, 2, "已批准") == (
        "create", "新增请假申请时审批状态只能是「草稿」或「已提交」（留空即为「草稿」），不能是「已批准」")
    # (an employee filing for a colleague is refused by row-level access first: tests/test_row_access.py)
    assert ops.refused(who("00001", "leader"), LEAVE, COLLEAGUE, 2, None) == (
        "create", "不能新增请假申请：只能由申请人本人、人事或管理员新增")
    leave(ops, applicant=COLLEAGUE, writer=who(None, "hr"))
    assert ops.refused(HEAD_W, "INSERT INTO tasks (title, assigned_by_id, assignee_id, due_on, status)"
                               " VALUES ('整理名单', 2, 3, '2026-12-01', '进行中')", )[0] == "create"


def test_the_content_freezes_outside_the_editable_states(ops):
    row = leave(ops)
    ops.write(STAFF_W, "UPDATE leave_requests SET reason = '看病' WHERE id = ?", row)   # 草稿: the owner edits
    assert ops.refused(COLLEAGUE_W, "UPDATE leave_requests SET reason = '改了' WHERE id = ?", row) == (
        "not_allowed", "不能修改这条请假申请：只能由申请人本人、人事或管理员修改")
    # whose row it is counts as it was: taking it over is an edit by someone who may not
    assert ops.refused(COLLEAGUE_W, "UPDATE leave_requests SET applicant_id = 6 WHERE id = ?", row)[0] == "not_allowed"
    ops.write(STAFF_W, set_state("leave_requests", "已提交"), row)
    assert ops.refused(STAFF_W, "UPDATE leave_requests SET days = 1 WHERE id = ?", row) == (
        "frozen", "「已提交」的请假申请不能修改；需要修改请先撤回（改为「草稿」）")
    ops.write(HEAD_W, set_state("leave_requests", "已批准"), row)
    assert ops.refused(ADMIN, "UPDATE leave_requests SET kind = '年假' WHERE id = ?", row)[0] == "frozen"
    ops.write(ADMIN, "UPDATE leave_requests SET kind = 'personal' WHERE id = ?", row)   # the same value: no edit


def test_the_triggers_own_updates_are_no_edits(ops):
    """An expense claim written straight in 已提交 (not editable) with a key that needs normalising
    and a synonym: the key, canonicalise and updated_at triggers rewrite the row in place."""
    ops.write(STAFF_W, "INSERT INTO expense_claims (claim_no, applicant_id, category, amount, incurred_on, description, status)"
                       " VALUES ('　ＢＸ００１ ', 3, '差旅', 800, '2026-11-10', '出差', '提交')")
    assert ops.conn.execute("SELECT claim_no, category, status FROM expense_claims").fetchone() == ("BX001", "差旅费", "已提交")


def test_derived_columns_are_kept_in_a_state_that_is_not_editable(ops):
    """请假天数 left blank is derived from the dates after the row is written straight in 已提交."""
    row = ops.write(STAFF_W, "INSERT INTO leave_requests (applicant_id, kind, starts_on, ends_on, reason, status)"
                             " VALUES (3, '年假', '2026-11-23', '2026-11-25', '休假', '已提交')")
    assert ops.conn.execute("SELECT days, status FROM leave_requests WHERE id = ?", [row]).fetchone() == (3, "已提交")
    # setting it by hand is an edit like any other
    assert ops.refused(STAFF_W, "UPDATE leave_requests SET days = 2 WHERE id = ?", row)[0] == "frozen"


def test_writes_from_outside_the_app_are_refused(ops):
    row = leave(ops)
    shell = sqlite3.connect(ops.data_dir.database("ops"))
    try:
        for sql in (set_state("leave_requests", "已提交"), "UPDATE leave_requests SET reason = '改' WHERE id = ?"):
            with pytest.raises(sqlite3.IntegrityError) as caught:
                shell.execute(sql, [row])
            assert kind_of(str(caught.value)) == "no_context" and "台账系统" in str(caught.value)
        with pytest.raises(sqlite3.IntegrityError) as caught:
            shell.execute(LEAVE, [COLLEAGUE, 1, None])
        assert kind_of(str(caught.value)) == "no_context"
    finally:
        shell.close()


# -- expense claims and tasks -----------------------------------------------------------------
CLAIM = ("INSERT INTO expense_claims (claim_no, applicant_id, category, amount, incurred_on, description, status)"
         " VALUES (?, 3, '交通费', ?, '2026-11-10', '打车', '已提交')")


def test_an_expense_claim_goes_department_head_finance_leader_then_paid(ops):
    row = ops.write(STAFF_W, CLAIM, "BX100", 6000)
    assert ops.refused(FINANCE_W, set_state("expense_claims", "部门已审核"), row)[0] == "not_allowed"
    ops.write(HEAD_W, set_state("expense_claims", "部门已审核"), row)
    assert ops.refused(HEAD_W, set_state("expense_claims", "财务已审核"), row)[0] == "not_allowed"
    ops.write(FINANCE_W, set_state("expense_claims", "财务已审核"), row)
    # the leader approves (数字媒体 §六(二)2 报公司领导审批), not the operations manager
    assert workflow.available(ops.conn, REG["expense_claims"], row, who("00001", "manager")) == []
    assert ops.refused(who("00001", "manager"), set_state("expense_claims", "已批准"), row)[0] == "not_allowed"
    ops.write(LEADER_W, set_state("expense_claims", "已批准"), row)
    assert ops.refused(STAFF_W, "UPDATE expense_claims SET amount = 9000 WHERE id = ?", row)[0] == "frozen"
    ops.write(FINANCE_W, set_state("expense_claims", "已支付"), row)
    small = ops.write(STAFF_W, CLAIM, "BX101", 300)
    for writer in (HEAD_W, FINANCE_W):
        ops.write(writer, set_state("expense_claims", {HEAD_W: "部门已审核", FINANCE_W: "财务已审核"}[writer]), small)
    ops.write(LEADER_W, set_state("expense_claims", "已批准"), small)
    assert [state(ops, "expense_claims", r) for r in (row, small)] == ["已支付", "已批准"]


def test_a_task_is_received_done_and_accepted(ops):
    row = ops.write(HEAD_W, "INSERT INTO tasks (title, assigned_by_id, assignee_id, due_on) VALUES ('整理名单', 2, 3, '2026-12-01')")
    assert state(ops, "tasks", row) == "待接收"
    assert ops.refused(COLLEAGUE_W, set_state("tasks", "进行中"), row) == (
        "not_allowed", "不能把工作任务从「待接收」改为「进行中」：「接收」只能由责任人本人办理")
    ops.write(STAFF_W, set_state("tasks", "进行中"), row)
    # the assignee reports progress in task_updates; the task's content is the assigner's
    assert ops.refused(STAFF_W, "UPDATE tasks SET requirement = '少做点' WHERE id = ?", row)[0] == "not_allowed"
    ops.write(HEAD_W, "UPDATE tasks SET requirement = '按客户分组' WHERE id = ?", row)
    ops.write(STAFF_W, set_state("tasks", "待验收"), row)
    assert ops.refused(STAFF_W, set_state("tasks", "已完成"), row)[0] == "not_allowed"
    assert ops.refused(HEAD_W, set_state("tasks", "已退回"), row)[0] == "comment"
    ops.write(who("00002", "employee", "department_head", note="缺两个客户"), set_state("tasks", "已退回"), row)
    ops.write(STAFF_W, set_state("tasks", "待验收"), row)
    ops.write(HEAD_W, set_state("tasks", "已完成"), row)
    assert [s["action"] for s in workflow.timeline(ops.conn, REG["tasks"], row)] == ["新增", "接收", "提交完成", "退回", "提交完成", "验收通过"]


# -- sets: a transition fills in its columns -----------------------------------------------
def _paid_claim(ops, monkeypatch, paid_on=None) -> int:
    monkeypatch.setattr("taizhang.clock.now", lambda at=None: datetime.datetime(2026, 11, 21, 7, 30, tzinfo=clock.timezone()))
    row = ops.write(STAFF_W, CLAIM, "BX200", 800)
    for writer, to in ((HEAD_W, "部门已审核"), (FINANCE_W, "财务已审核"), (LEADER_W, "已批准")):
        ops.write(writer, set_state("expense_claims", to), row)
    given = f", paid_on = '{paid_on}'" if paid_on else ""
    ops.write(FINANCE_W, f"UPDATE expense_claims SET status = '已支付'{given} WHERE id = ?", row)
    return row


def test_paying_a_claim_records_the_local_date_it_was_paid_on(ops, monkeypatch):
    # 07:30 in Shanghai is still the previous day in UTC: the date is the department's
    row = _paid_claim(ops, monkeypatch)
    assert ops.one("SELECT paid_on FROM expense_claims WHERE id = ?", row) == "2026-11-21"
    # audited as the payer's write, right after the transition
    last = ops.conn.execute("SELECT actor, before, after FROM _audit_log WHERE table_name = 'expense_claims'"
                            " AND row_id = ? ORDER BY id DESC LIMIT 2", [row]).fetchall()
    assert [actor for actor, _, _ in last] == ["test-00004", "test-00004"]
    assert '"paid_on": "2026-11-21"' in last[0][2].replace('":"', '": "') and '"paid_on": null' in last[0][1].replace('":null', '": null')
    # the claim is frozen: nobody re-dates the payment afterwards, not even to today
    assert ops.refused(FINANCE_W, "UPDATE expense_claims SET paid_on = '2026-11-20' WHERE id = ?", row)[0] == "frozen"


def test_a_date_given_with_the_transition_stands_and_a_blank_one_only_is_filled(ops, monkeypatch):
    row = _paid_claim(ops, monkeypatch, paid_on="2026-11-19")
    assert ops.one("SELECT paid_on FROM expense_claims WHERE id = ?", row) == "2026-11-19"
    ops.write(ADMIN, "INSERT INTO customer_feedback (feedback_no, received_at, kind, subject, handler_id)"
                     " VALUES ('F1', '2026-11-21 07:00', '投诉', '送货慢', 3)")
    ops.write(who("00001", "manager"), "UPDATE customer_feedback SET status = '已分派' WHERE feedback_no = 'F1'")
    ops.write(STAFF_W, "UPDATE customer_feedback SET status = '已回复' WHERE feedback_no = 'F1'")
    assert ops.one("SELECT replied_at FROM customer_feedback WHERE feedback_no = 'F1'") == "2026-11-21 07:30"
    # a second reply (after 重新处理) keeps the first reply's time, the one the time limit measures
    ops.write(who("00003", "employee", note="客户不满意"), "UPDATE customer_feedback SET status = '处理中' WHERE feedback_no = 'F1'")
    monkeypatch.setattr("taizhang.clock.now", lambda at=None: datetime.datetime(2026, 11, 22, 9, 0, tzinfo=clock.timezone()))
    ops.write(STAFF_W, "UPDATE customer_feedback SET status = '已回复' WHERE feedback_no = 'F1'")
    assert ops.one("SELECT replied_at FROM customer_feedback WHERE feedback_no = 'F1'") == "2026-11-21 07:30"


def test_a_transition_that_fills_a_column_of_the_wrong_type_is_a_definition_error():
    import yaml

    from taizhang.registers import DEFINITION_PATH, DefinitionError, parse

    raw = yaml.safe_load(DEFINITION_PATH.read_text(encoding="utf-8"))
    transitions = raw["registers"]["expense_claims"]["workflow"]["transitions"]
    next(t for t in transitions if t["action"] == "支付")["sets"] = {"paid_on": "now"}
    with pytest.raises(DefinitionError, match="now fills a datetime column"):
        parse(raw)


# -- on_transition and rollup -----------------------------------------------------------------
def test_ending_the_cooperation_terminates_the_partner(ops):
    partner = ops.write(ADMIN, "INSERT INTO partners (name, status) VALUES ('甲公司', '合作中')")
    row = ops.write(who("00001", "manager"), "INSERT INTO rectifications (partner_id, issue, issued_on, deadline, owner_id)"
                                             " VALUES (?, '交付延迟', '2026-11-01', '2026-11-30', 3)", partner)
    ops.write(STAFF_W, set_state("rectifications", "整改中"), row)
    assert ops.one("SELECT status FROM partners WHERE id = ?", partner) == "合作中"
    assert ops.refused(who("00001", "manager"), set_state("rectifications", "已终止合作"), row)[0] == "comment"
    ops.write(who("00001", "manager", note="三次整改未通过"), set_state("rectifications", "终止合作"), row)   # a synonym
    assert ops.one("SELECT status FROM partners WHERE id = ?", partner) == "已终止"
    change = ops.conn.execute("SELECT actor, note FROM _audit_log WHERE table_name = 'partners' ORDER BY id DESC").fetchone()
    assert change == ("test-00001", "三次整改未通过")


def test_a_customers_last_visit_follows_its_visits(ops):
    a = ops.write(ADMIN, "INSERT INTO customers (customer_no, name) VALUES ('C1', '甲')")
    b = ops.write(ADMIN, "INSERT INTO customers (customer_no, name) VALUES ('C2', '乙')")
    last = lambda c: ops.one("SELECT last_visit_on FROM customers WHERE id = ?", c)  # noqa: E731
    first = ops.write(ADMIN, "INSERT INTO customer_visits (customer_id, visited_on) VALUES (?, '2026-10-01')", a)
    second = ops.write(ADMIN, "INSERT INTO customer_visits (customer_id, visited_on) VALUES (?, '2026-11-01')", a)
    assert last(a) == "2026-11-01"
    ops.write(ADMIN, "UPDATE customer_visits SET visited_on = '2026-09-01' WHERE id = ?", second)
    assert last(a) == "2026-10-01"
    ops.write(ADMIN, "UPDATE customer_visits SET customer_id = ? WHERE id = ?", b, first)
    assert (last(a), last(b)) == ("2026-09-01", "2026-10-01")
    ops.write(ADMIN, "DELETE FROM customer_visits WHERE id = ?", second)
    assert last(a) is None


# -- every door -------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_the_same_wrong_transition_is_refused_on_every_path(ops, empty_ds, tmp_path):
    row = leave(ops, status="已提交")
    wrong = "不能把请假申请从「已提交」改为「已批准」：「通过」只能由申请人的部门负责人办理"
    staff = actor("employee", employee_no="00003")
    r = await empty_ds.client.post(f"/ops/leave_requests/{row}/-/update", json={"update": {"status": "已批准"}}, actor=staff)
    assert (r.status_code, r.json()["errors"]) == (400, [wrong])
    r = await empty_ds.client.post("/ops/-/execute-write", actor=actor("admin"),
                                   json={"sql": f"update leave_requests set status = '已批准' where id = {row}"})
    assert r.status_code == 400 and wrong in r.json()["error"], r.text
    # core's upsert of an existing row is judged as the update it is (its INSERT part is no new row)
    upsert = {"rows": [{"id": row, "applicant_id": STAFF, "kind": "事假", "starts_on": "2026-11-23", "ends_on": "2026-11-30",
                        "days": 2, "reason": "家中有事", "status": "已批准"}]}
    r = await empty_ds.client.post("/ops/leave_requests/-/upsert", json=upsert, actor=staff)
    assert (r.status_code, r.json()["errors"]) == (400, [wrong])
    head = actor("employee", employee_no="00002", roles=["employee", "department_head"])
    r = await empty_ds.client.post("/ops/leave_requests/-/upsert", json=upsert, actor=head)
    assert r.status_code == 200, r.text
    # an import as admin sends an approved request back to 草稿: no transition does that
    path = tmp_path / "请假.xlsx"
    path.write_bytes(xlsx_bytes([["申请人", "请假类型", "开始日期", "结束日期", "请假天数", "请假事由", "审批状态"],
                                 ["00003", "事假", "2026-11-23", "2026-11-30", 2, "家中有事", "草稿"]]))
    run = import_files(ops.data_dir, [path], register="leave_requests", actor="test-admin", role="admin")
    assert not run.written and [p.reason for p in run.problems] == [
        "不能把请假申请从「已批准」改为「草稿」：「已批准」的请假申请已办结，状态不能再改变"]
    shell = sqlite3.connect(ops.data_dir.database("ops"))
    with pytest.raises(sqlite3.IntegrityError, match="台账系统"):
        shell.execute(set_state("leave_requests", "草稿"), [row])
    shell.close()
    assert state(ops, "leave_requests", row) == "已批准"


# -- the definition's side --------------------------------------------------------------------
def test_every_refusal_has_a_kind_and_the_triggers_raise_only_those(ops):
    for reg in REG.values():
        found = workflow.refusals(reg)
        if not reg.workflow:
            assert found == {}
            continue
        assert set(found.values()) <= set(workflow.KINDS) and {"transition", "not_allowed", "frozen", "create", "no_context"} <= set(found.values())
        sql = "".join(workflow.triggers_sql(reg).values())
        assert all(f"'{message}'" in sql for message in found)


def test_init_twice_changes_nothing(ops):
    assert init(ops.data_dir) == {"ops": [], "hr": []}
    names = {r[0] for r in ops.conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {f"tz_leave_requests_workflow_{k}" for k in ("insert", "state", "edit")} <= names
    assert {"tz_rectifications_on_transition_0", "tz_customer_visits_rollup_0_delete"} <= names
    trusted = audit.own_triggers(ops.conn)[1]
    assert "tz_expense_claims_workflow_state" in trusted and "tz_customer_visits_rollup_0_insert" in trusted
