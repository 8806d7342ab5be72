"""Deadlines from the `due:` rules of db/registers.yml: 我的待办 on the home page and the
generated overdue reports, on small fixture data with the clock pinned."""

import datetime

import pytest
import pytest_asyncio

from taizhang import audit, clock
from tests.conftest import actor

pytestmark = pytest.mark.fast

# Saturday 2026-11-21, 10:00 in Shanghai.
NOW = datetime.datetime(2026, 11, 21, 10, 0, tzinfo=clock.timezone())

FIXTURE = """
INSERT INTO employees (id, employee_no, name) VALUES
  (1, '00001', '经理甲'), (2, '00002', '组长乙'), (3, '00003', '专员丙'), (4, '00004', '专员丁');
INSERT INTO departments (id, name, parent_id, manager_id) VALUES (1, '运营部', NULL, 1), (2, '客户运营组', 1, 2);
UPDATE employees SET department_id = 1 WHERE id = 1;
UPDATE employees SET department_id = 2 WHERE id > 1;
INSERT INTO meetings (id, title, held_on) VALUES (1, '运营周会', '2026-11-02');
INSERT INTO meeting_actions (meeting_id, item, owner_id, due_on, status) VALUES
  (1, '丙逾期两天', 3, '2026-11-19', '未开始'),
  (1, '丙三天后到期', 3, '2026-11-24', '进行中'),
  (1, '丙十天后到期', 3, '2026-12-01', '未开始'),
  (1, '丙逾期但已完成', 3, '2026-11-01', '已完成'),
  (1, '乙逾期十一天', 2, '2026-11-10', '未开始');
INSERT INTO customer_feedback (feedback_no, received_at, kind, subject, handler_id, reply_due_at, status) VALUES
  ('F1', '2026-11-20 09:00', '投诉', '丙一小时前应回复', 3, '2026-11-21 09:00', '已登记'),
  ('F2', '2026-11-20 09:00', '投诉', '丙下午应回复', 3, '2026-11-21 15:00', '已登记'),
  ('F3', '2026-11-20 09:00', '投诉', '丙后天应回复', 3, '2026-11-23 12:00', '已登记');
"""
HR_FIXTURE = """
INSERT INTO confidentiality_agreements (agreement_no, party_kind, party_name, signed_on, expires_on, status) VALUES
  ('BM-1', '其他', '十天后到期', '2024-01-01', '2026-12-01', '有效'),
  ('BM-2', '其他', '四十天后到期', '2024-01-01', '2026-12-31', '有效');
"""


def pin_clock(monkeypatch, now: datetime.datetime) -> None:
    real_now = clock.now
    monkeypatch.setattr("taizhang.clock.now", lambda at=None: real_now(at) if at else now.astimezone(clock.timezone()))
    monkeypatch.setattr("taizhang.clock.today", lambda at=None: clock.now(at).date())


# The fixture is written as an administrator from the command line: process registers are only
# written by someone the workflow rules can judge.
WRITER = audit.Who(actor="fixture", role="admin", source="cli", roles=("admin",))


def write_fixture(data_dir, database: str, script: str) -> None:
    conn = data_dir.connect(database)
    try:
        with audit.audited(conn, WRITER, audit.key_from_secret(data_dir.secret())):
            for statement in filter(str.strip, script.split(";\n")):
                conn.execute(statement)
    finally:
        conn.close()


@pytest_asyncio.fixture
async def due_ds(empty_ds, empty_data_dir, monkeypatch):
    pin_clock(monkeypatch, NOW)
    write_fixture(empty_data_dir, "ops", FIXTURE)
    write_fixture(empty_data_dir, "hr", HR_FIXTURE)
    return empty_ds


def login(*roles, **extra) -> dict:
    """A login with several roles (its own and the derived department_head)."""
    return {**actor(roles[0], **extra), "roles": list(roles)}


async def todo_of(ds, who: dict) -> str:
    page = (await ds.client.get("/", actor=who)).text
    return page[page.index("<h2>我的待办</h2>"):page.index("<h2>人员与培训</h2>")]


@pytest.mark.asyncio
async def test_my_todo_is_mine_due_soon_or_overdue(due_ds):
    todo = await todo_of(due_ds, actor("editor", employee_no="00003"))
    assert "<h3>会议决议" in todo and "<h3>客户反馈与投诉" in todo
    assert "丙逾期两天" in todo and "已逾期 2 天" in todo
    assert "丙三天后到期" in todo                          # within the next 7 days
    assert "丙十天后到期" not in todo and "已完成" not in todo and "乙逾期十一天" not in todo
    assert "丙一小时前应回复" in todo and "已逾期 1 小时" in todo   # a datetime deadline
    assert "丙下午应回复" in todo and "丙后天应回复" not in todo     # within a day
    assert 'href="/ops/meeting_actions/1"' in todo                  # a link to the row


@pytest.mark.asyncio
async def test_escalations_reach_the_head_and_then_the_role(due_ds):
    head = await todo_of(due_ds, login("editor", "department_head", employee_no="00002"))
    # 丙's action is a day overdue: escalated to 丙's head; 乙's own is listed for 乙.
    assert "丙逾期两天" in head and "已升级" in head and "乙逾期十一天" in head
    assert "丙三天后到期" not in head                                 # not escalated: 丙's alone
    # 乙 heads the group: their own overdue action goes to the parent department's head …
    top = await todo_of(due_ds, actor("manager", employee_no="00001"))
    assert "乙逾期十一天" in top and "丙逾期两天" not in top
    # … and after three days to every manager, linked to an employee or not.
    manager = await todo_of(due_ds, actor("manager"))
    assert "乙逾期十一天" in manager and "丙逾期两天" not in manager
    assert "还没有关联员工" in manager


@pytest.mark.asyncio
async def test_my_todo_only_from_registers_the_reader_may_read(due_ds):
    hr = await todo_of(due_ds, actor("hr"))
    assert "<h3>保密协议" in hr and "BM-1" in hr and "BM-2" not in hr     # 30 days before
    viewer = await todo_of(due_ds, actor("viewer"))
    assert "保密协议" not in viewer and "BM-1" not in viewer
    assert "没有即将到期或逾期的事项" in viewer


async def report(ds, database, name, role):
    return await ds.client.get(f"/{database}/{name}.json", params={"_shape": "array"}, actor=actor(role))


@pytest.mark.asyncio
async def test_overdue_report_generated_per_register(due_ds):
    response = await report(due_ds, "ops", "due_meeting_actions", "viewer")
    assert response.status_code == 200, response.text
    rows = {r["事项"]: r for r in response.json()}
    assert set(rows) == {"丙逾期两天", "乙逾期十一天"}
    assert rows["丙逾期两天"]["逾期"] == "2 天" and rows["丙逾期两天"]["提醒对象"] == "专员丙"
    assert rows["丙逾期两天"]["已升级"] == "第 1 次升级：组长乙"
    assert rows["乙逾期十一天"]["已升级"] == "第 2 次升级：运营经理（全部）"
    feedback = (await report(due_ds, "ops", "due_customer_feedback", "viewer")).json()
    assert [(r["事项"], r["逾期"]) for r in feedback] == [("丙一小时前应回复", "1 小时")]


@pytest.mark.asyncio
async def test_overdue_reports_follow_who_may_read(due_ds):
    assert (await report(due_ds, "hr", "due_confidentiality_agreements", "hr")).status_code == 200
    assert (await report(due_ds, "hr", "due_confidentiality_agreements", "viewer")).status_code == 403
    # Personal registers: roles that see only some rows (department_head, employee) get no report.
    assert (await report(due_ds, "ops", "due_leave_requests", "leader")).status_code == 200
    assert (await report(due_ds, "ops", "due_leave_requests", "department_head")).status_code == 403
    assert (await report(due_ds, "ops", "due_leave_requests", "manager")).status_code == 403


@pytest.mark.asyncio
async def test_state_deadline_counts_from_entering_the_state(empty_ds, empty_data_dir, monkeypatch):
    """A leave request waits for its department head 24 hours from being submitted (the audit
    log says when); the report shows it six hours late when 30 hours have passed."""
    write_fixture(empty_data_dir, "ops", FIXTURE + ";\n"
                  "INSERT INTO leave_requests (applicant_id, kind, starts_on, ends_on, days, reason, status)"
                  " VALUES (3, '事假', '2026-12-10', '2026-12-10', 1, '家中有事', '已提交')")
    pin_clock(monkeypatch, datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=30, minutes=1))
    rows = (await report(empty_ds, "ops", "due_leave_requests", "hr")).json()
    assert [(r["事项"], r["逾期"], r["提醒对象"]) for r in rows] == [("家中有事", "6 小时", "组长乙")]
    head = await todo_of(empty_ds, login("editor", "department_head", employee_no="00002"))
    assert "家中有事" in head and "已逾期 6 小时" in head


@pytest.mark.asyncio
async def test_one_failing_register_does_not_take_the_home_page_down(due_ds, monkeypatch):
    from taizhang import due

    real = due.todo_sql
    monkeypatch.setattr(due, "todo_sql", lambda definition, reg: "SELECT * FROM no_such_table"
                        if reg.name == "meeting_actions" else real(definition, reg))
    response = await due_ds.client.get("/", actor=actor("editor", employee_no="00003"))
    assert response.status_code == 200
    todo = response.text[response.text.index("<h2>我的待办</h2>"):]
    assert "暂时查不出来" in todo and "丙一小时前应回复" in todo


ONBOARDING = """
INSERT INTO employees (id, employee_no, name, hired_on, status) VALUES
  (11, '00011', '新人未培训', '2026-10-01', '试用'),
  (12, '00012', '新人已培训', '2026-10-01', '在职'),
  (13, '00013', '新人缺席培训', '2026-10-10', '在职'),
  (14, '00014', '刚入职', '2026-11-18', '试用'),
  (15, '00015', '老员工', '2023-03-01', '在职'),
  (16, '00016', '新人已离职', '2026-10-01', '离职');
INSERT INTO training_sessions (id, title, kind, starts_on) VALUES (1, '十月新员工入职培训', '入职培训', '2026-10-08');
INSERT INTO training_records (employee_id, session_id, attendance) VALUES (12, 1, '已参加'), (13, 1, '缺席')
"""


@pytest.mark.asyncio
async def test_a_new_hire_without_onboarding_training_is_hr_s_item(due_ds, empty_data_dir):
    """前场 §五(一)1: 新员工入职培训 within 30 days of hired_on (the definition's rule)."""
    write_fixture(empty_data_dir, "ops", ONBOARDING)
    rows = {r["事项"]: r for r in (await report(due_ds, "ops", "due_employees", "hr")).json()}
    assert set(rows) == {"新人未培训", "新人缺席培训"}
    assert rows["新人未培训"]["到期"] == "2026-10-31" and rows["新人未培训"]["已升级"].startswith("第 1 次升级")
    hr = await todo_of(due_ds, actor("hr"))
    assert "新人未培训" in hr and "刚入职" not in hr           # due 2026-12-18: not yet within 7 days
    write_fixture(empty_data_dir, "ops", "INSERT INTO training_records (employee_id, session_id, attendance) VALUES (11, 1, '已参加')")
    rows = {r["事项"] for r in (await report(due_ds, "ops", "due_employees", "hr")).json()}
    assert rows == {"新人缺席培训"}


@pytest.mark.asyncio
async def test_a_reception_not_answered_on_the_spot_is_due_in_minutes_then_escalates(empty_ds, empty_data_dir, monkeypatch):
    """前场 §三(一): a caller transferred to a colleague is answered within the minutes set (30 by
    default): on the transferee's and receptionist's 我的待办 until then, overdue after, escalated
    to their department head an hour later; answered on the spot or replied, it is nobody's item."""
    write_fixture(empty_data_dir, "ops", FIXTURE.split("INSERT INTO meetings")[0] + """
INSERT INTO customer_receptions (received_at, caller_name, request, receptionist_id, transferred_to_id, status) VALUES
  ('2026-11-21 09:50', '王先生', '转接待回复的退货问题', 4, 3, '已转接');
INSERT INTO customer_receptions (received_at, caller_name, request, receptionist_id, answered_on_spot) VALUES
  ('2026-11-21 09:40', '李女士', '当场解答的营业时间', 4, 1);
INSERT INTO customer_receptions (received_at, caller_name, request, receptionist_id, transferred_to_id, replied_at) VALUES
  ('2026-11-21 09:45', '赵先生', '已回复的发票问题', 4, 3, '2026-11-21 10:05')""")
    transferee, receptionist = actor("editor", employee_no="00003"), actor("editor", employee_no="00004")
    head = login("editor", "department_head", employee_no="00002")

    pin_clock(monkeypatch, NOW)                                  # 10:00: due at 10:20
    for who in (transferee, receptionist):
        todo = await todo_of(empty_ds, who)
        assert "转接待回复的退货问题" in todo and "已逾期" not in todo
        assert "当场解答的营业时间" not in todo and "已回复的发票问题" not in todo
    assert "转接待回复的退货问题" not in await todo_of(empty_ds, head)

    pin_clock(monkeypatch, NOW + datetime.timedelta(minutes=40))     # 10:40: 20 minutes late
    assert "已逾期" in await todo_of(empty_ds, transferee)
    assert "转接待回复的退货问题" not in await todo_of(empty_ds, head)
    pin_clock(monkeypatch, NOW + datetime.timedelta(minutes=90))     # 11:30: over an hour late
    head_todo = await todo_of(empty_ds, head)
    assert "转接待回复的退货问题" in head_todo and "已升级" in head_todo

    write_fixture(empty_data_dir, "ops", "UPDATE customer_receptions SET replied_at = '2026-11-21 11:31', status = '已回复'"
                                         " WHERE caller_name = '王先生'")
    for who in (transferee, receptionist, head):
        assert "转接待回复的退货问题" not in await todo_of(empty_ds, who)
