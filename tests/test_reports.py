"""Every report (stored query) on small fixture data whose answer is known, with "today"
pinned: the reports take it from the :_tz_today magic parameter."""

import datetime

import pytest
import pytest_asyncio

from tests.conftest import actor

pytestmark = pytest.mark.fast

TODAY = datetime.date(2026, 11, 21)

OPS_FIXTURE = """
INSERT INTO departments (id, name) VALUES (1, '运营部'), (2, '市场部');
INSERT INTO employees (id, employee_no, name, department_id, status) VALUES
  (1, '00001', '张伟', 1, '在职'), (2, '00002', '王芳', 1, '在职'),
  (3, '00003', '张伟', 2, '在职'), (4, '00004', '李娜', 2, '离职');
INSERT INTO meetings (id, title, held_on) VALUES (1, '运营周会', '2026-11-02'), (2, '月度会', '2026-10-30');
INSERT INTO meeting_actions (meeting_id, item, owner_id, due_on, status) VALUES
  (1, '逾期未开始', 1, '2026-11-20', '未开始'),
  (1, '逾期进行中', 1, '2026-11-01', '进行中'),
  (1, '今天到期', 2, '2026-11-21', '未开始'),
  (2, '逾期但已完成', 2, '2026-10-01', '已完成'),
  (2, '逾期但已取消', 2, '2026-10-01', '已取消'),
  (2, '逾期无状态', 3, '2026-11-10', NULL),
  (2, '无时限', 3, NULL, '未开始');
INSERT INTO partners (id, name, category, status, agreement_end) VALUES
  (1, '甲供应商', '供应商', '合作中', '2026-12-01'),
  (2, '乙渠道', '渠道', '合作中', '2027-03-01'),
  (3, '丙媒体', '媒体', '合作中', '2026-11-01'),
  (4, '丁物流', '物流', '已终止', '2026-11-30');
INSERT INTO partner_evaluations (partner_id, period, performance_score, service_score, reputation_score) VALUES
  (1, '2026-Q2', 95, 95, 95), (1, '2026-Q3', 50, 50, 50),
  (2, '2026-Q2', 50, 50, 50), (2, '2026-Q3', 40, 40, 40),
  (3, '2026-Q3', 80, 80, 80), (3, '2026-09', 20, 20, 20), (3, '2025', 10, 10, 10);
UPDATE customer_tiers SET rank = 1, follow_up_days = 30 WHERE name = '重要客户';
UPDATE customer_tiers SET rank = 2, follow_up_days = 90 WHERE name = '普通客户';
UPDATE customer_tiers SET rank = 3, follow_up_days = 180 WHERE name = '潜在客户';
INSERT INTO customers (customer_no, name, tier_id, owner_id, total_spend, churn_risk, last_visit_on) VALUES
  ('C1', '从未回访', 1, 1, 1000, '高', NULL),
  ('C2', '重要逾期', 1, 1, 3000, '低', '2026-10-01'),
  ('C3', '重要未到期', 1, 2, 2000, '低', '2026-11-01'),
  ('C4', '普通刚好到期', 2, 2, 500, '中', '2026-08-23'),
  ('C5', '普通逾期', 2, 2, 100.5, '高', '2026-08-01'),
  ('C6', '未分层', NULL, NULL, 50, NULL, '2026-11-20');
INSERT INTO training_sessions (id, title, starts_on, hours) VALUES
  (1, '入职培训', '2026-03-01', 8), (2, '数据分析', '2026-06-01', 4.5), (3, '旧课程', '2025-05-01', 10);
INSERT INTO training_records (employee_id, session_id, attendance, score) VALUES
  (1, 1, '已参加', 90), (1, 2, '已参加', 80), (1, 3, '已参加', 70),
  (2, 1, '缺席', NULL), (2, 3, '已参加', 60);
"""

HR_FIXTURE = """
INSERT INTO confidentiality_agreements (agreement_no, party_kind, party_name, signed_on, expires_on, status) VALUES
  ('BM-1', '其他', '十天后到期', '2024-01-01', '2026-12-01', '有效'),
  ('BM-2', '其他', '三十天后到期', '2024-01-01', '2026-12-21', '有效'),
  ('BM-3', '其他', '三十一天后', '2024-01-01', '2026-12-22', '有效'),
  ('BM-4', '其他', '已过期', '2024-01-01', '2026-11-20', '有效'),
  ('BM-5', '其他', '长期有效', '2024-01-01', NULL, '有效'),
  ('BM-6', '其他', '已终止', '2024-01-01', '2026-11-25', '已终止'),
  ('BM-7', '其他', '今天到期', '2024-01-01', '2026-11-21', '有效');
"""


@pytest_asyncio.fixture
async def report_ds(empty_ds, monkeypatch):
    monkeypatch.setattr("taizhang.clock.today", lambda: TODAY)
    await empty_ds.get_database("ops").execute_write_fn(lambda conn: conn.executescript(OPS_FIXTURE))
    await empty_ds.get_database("hr").execute_write_fn(lambda conn: conn.executescript(HR_FIXTURE))
    return empty_ds


async def _report(ds, database, name, role="admin", **params):
    response = await ds.client.get(
        f"/{database}/{name}.json", params={"_shape": "array", **params}, actor=actor(role))
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.asyncio
async def test_overdue_meeting_actions_by_owner(report_ds):
    rows = await _report(report_ds, "ops", "overdue_meeting_actions")
    assert [(r["责任人"], r["工号"], r["决议事项"], r["逾期天数"]) for r in rows] == [
        ("张伟", "00001", "逾期进行中", 20),
        ("张伟", "00001", "逾期未开始", 1),
        ("张伟", "00003", "逾期无状态", 11),  # same name, told apart by 工号
    ]
    assert rows[0]["该责任人逾期数"] == 2


@pytest.mark.asyncio
async def test_partner_evaluation_ranking(report_ds):
    rows = await _report(report_ds, "ops", "partner_evaluation_ranking")
    by_partner = {r["合作伙伴"]: r for r in rows}
    # 丙: 2026-Q3 and 2026-09 end the same day; the quarter (and the text order "2026-Q3" >
    # "2026-09") must not decide on its own: the month is the finer, later-reported period.
    assert by_partner["丙媒体"]["评估期间"] == "2026-09"
    assert by_partner["丙媒体"]["上期"] == "2026-Q3"
    assert by_partner["甲供应商"]["评估期间"] == "2026-Q3"
    assert by_partner["甲供应商"]["预警"] == ""                 # 不合格 once only
    assert by_partner["乙渠道"]["预警"] == "连续两期不合格"
    assert [r["合作伙伴"] for r in rows] == ["甲供应商", "乙渠道", "丙媒体"]
    assert [r["排名"] for r in rows] == [1, 2, 3]


@pytest.mark.asyncio
async def test_customer_tier_overview(report_ds):
    rows = await _report(report_ds, "ops", "customer_tier_overview")
    assert [(r["客户层级"], r["客户数"], r["累计消费合计（元）"], r["高流失风险客户数"]) for r in rows] == [
        ("重要客户", 3, 6000.0, 1),
        ("普通客户", 2, 600.5, 1),
        ("潜在客户", 0, 0, 0),
        ("（未分层）", 1, 50.0, 0),
    ]


@pytest.mark.asyncio
async def test_customers_due_for_visit(report_ds):
    rows = await _report(report_ds, "ops", "customers_due_for_visit")
    assert [(r["客户编号"], r["回访状态"]) for r in rows] == [
        ("C1", "从未回访"),
        ("C5", "逾期 22 天"),
        ("C2", "逾期 21 天"),
    ]


@pytest.mark.asyncio
async def test_employee_training_summary(report_ds):
    rows = await _report(report_ds, "ops", "employee_training_summary")
    by_no = {r["工号"]: r for r in rows}
    assert "00004" not in by_no                                   # 离职
    assert (by_no["00001"]["培训次数"], by_no["00001"]["本年学时"], by_no["00001"]["平均成绩"]) == (3, 12.5, 80.0)
    assert by_no["00001"]["提示"] == ""
    assert (by_no["00002"]["培训次数"], by_no["00002"]["本年学时"], by_no["00002"]["提示"]) == (1, 0, "本年度无培训")
    assert by_no["00003"]["提示"] == "本年度无培训"


@pytest.mark.asyncio
async def test_training_session_evaluations(report_ds):
    await report_ds.get_database("ops").execute_write_fn(lambda conn: conn.executescript("""
        UPDATE training_sessions SET status = '已完成';
        UPDATE training_records SET passed = score >= 60 WHERE score IS NOT NULL;
        UPDATE training_records SET feedback_rating = 4, content_rating = 5, method_rating = 3, trainer_rating = 4
          WHERE session_id = 1 AND employee_id = 1;
        UPDATE training_records SET feedback_rating = 5, content_rating = 4, trainer_rating = 5 WHERE session_id = 3;
    """))
    rows = await _report(report_ds, "ops", "training_session_evaluations")
    # the session nobody evaluated first, flagged; then the newest first
    assert [r["培训课程"] for r in rows] == ["数据分析", "入职培训", "旧课程"]
    assert rows[0]["提示"] == "尚无评价，请收集学员反馈" and rows[0]["评价份数"] == 0
    first = rows[1]
    assert (first["参加人数"], first["合格率（%）"], first["评价份数"]) == (1, 100.0, 1)
    assert (first["总体评价"], first["内容评分"], first["方式评分"], first["讲师评分"]) == (4, 5, 3, 4)
    old = rows[2]
    assert (old["参加人数"], old["评价份数"], old["方式评分"], old["讲师评分"], old["提示"]) == (2, 2, None, 5, "")


@pytest.mark.asyncio
async def test_expiring_partner_agreements(report_ds):
    rows = await _report(report_ds, "ops", "expiring_partner_agreements")
    assert [(r["合作伙伴"], r["剩余天数"]) for r in rows] == [("丙媒体", -20), ("甲供应商", 10)]
    rows = await _report(report_ds, "ops", "expiring_partner_agreements", days="120")
    assert [r["合作伙伴"] for r in rows] == ["丙媒体", "甲供应商", "乙渠道"]


@pytest.mark.asyncio
async def test_expiring_confidentiality_agreements(report_ds):
    rows = await _report(report_ds, "hr", "expiring_confidentiality_agreements", role="hr")
    assert [(r["协议编号"], r["剩余天数"]) for r in rows] == [("BM-7", 0), ("BM-1", 10), ("BM-2", 30)]
    rows = await _report(report_ds, "hr", "expiring_confidentiality_agreements", role="hr", days="5")
    assert [r["协议编号"] for r in rows] == ["BM-7"]


@pytest.mark.asyncio
@pytest.mark.parametrize("role", ["viewer", "editor", "analyst", "manager"])
async def test_confidential_report_is_hidden_from_other_roles(report_ds, role):
    response = await report_ds.client.get(
        "/hr/expiring_confidentiality_agreements.json", actor=actor(role))
    assert response.status_code == 403
    assert "BM-" not in response.text


def test_today_follows_the_configured_time_zone(monkeypatch):
    from taizhang import clock

    # 07:30 in Shanghai is still yesterday in UTC, where SQLite's date('now') lives.
    early = datetime.datetime(2026, 11, 20, 23, 30, tzinfo=datetime.timezone.utc)
    assert clock.today(early) == datetime.date(2026, 11, 21)
    monkeypatch.setenv("TAIZHANG_TIMEZONE", "Europe/London")
    assert clock.today(early) == datetime.date(2026, 11, 20)
