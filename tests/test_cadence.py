"""Cadence checks ("one per period", `cadence:` in db/registers.yml) reported as missing items:
a weekly meeting every week, a weekly report per employee in post, a monthly plan per department
with a head. Each report looks at the last complete periods before today only."""

import pytest

from taizhang import audit, cadence
from taizhang.registers import load
from tests.conftest import actor

pytestmark = pytest.mark.fast

WRITER = audit.Who(actor="tester", role="admin", source="cli", roles=("admin",))
TODAY = {"_tz_today": "2026-12-02"}    # a Wednesday: the last complete week is 11-23 … 11-29


def _sql(register: str, number: int = 1) -> str:
    return cadence.reports(load())["ops"][f"missing_{register}_{number}"]["sql"]


def _fill(data_dir, statements):
    conn = data_dir.connect("ops")
    with audit.audited(conn, WRITER, audit.key_from_secret(data_dir.secret())):
        for sql, params in statements:
            conn.execute(sql, params)
    return conn


def test_weeks_without_a_weekly_meeting_are_listed(empty_data_dir):
    conn = _fill(empty_data_dir, [
        ("INSERT INTO meetings (kind, title, held_on) VALUES ('周会', '周例会', ?)", [day])
        for day in ("2026-11-24", "2026-11-09", "2026-10-05")
    ] + [("INSERT INTO meetings (kind, title, held_on) VALUES ('月会', '月度会', '2026-11-17')", [])])
    missing = conn.execute(_sql("meetings", 1), TODAY).fetchall()
    # 8 complete weeks back from 11-23 … 11-29: those of 11-23, 11-09 and 10-05 had one; 11-16 only a 月会.
    assert [row[1] for row in missing] == ["2026-11-16", "2026-11-02", "2026-10-26", "2026-10-19", "2026-10-12"]
    assert missing[0][0] == "2026-11-16 至 2026-11-22"


def test_a_weekly_report_is_expected_of_every_employee_in_post(empty_data_dir):
    conn = _fill(empty_data_dir, [
        ("INSERT INTO employees (employee_no, name, status) VALUES ('00001', '张三', '在职')", []),
        ("INSERT INTO employees (employee_no, name, status) VALUES ('00002', '李四', '试用')", []),
        ("INSERT INTO employees (employee_no, name, status) VALUES ('00003', '王五', '离职')", []),
        *(("INSERT INTO work_reports (reporter_id, kind, period_start, title, status) VALUES (1, '周报', ?, '周报', '已提交')",
           [monday]) for monday in ("2026-11-23", "2026-11-16", "2026-11-09", "2026-11-02")),
        ("INSERT INTO work_reports (reporter_id, kind, period_start, title, status) VALUES (2, '月报', '2026-11-23', '月报', '已提交')", []),
    ])
    missing = conn.execute(_sql("work_reports"), TODAY).fetchall()
    # 张三 handed in all four; 李四 only a monthly report (not a weekly one); 王五 has left.
    assert {(row[3], row[4]) for row in missing} == {("李四", "00002")}
    assert [row[1] for row in missing] == ["2026-11-23", "2026-11-16", "2026-11-09", "2026-11-02"]


def test_a_monthly_plan_per_department_matches_the_period_column(empty_data_dir):
    conn = _fill(empty_data_dir, [
        ("INSERT INTO employees (employee_no, name) VALUES ('00001', '张三')", []),
        ("INSERT INTO departments (name, manager_id) VALUES ('市场推广组', 1)", []),
        ("INSERT INTO departments (name) VALUES ('无人负责组')", []),
        ("INSERT INTO work_plans (department_id, period, title, owner_id, status) VALUES (1, '2026-11', '十一月计划', 1, '已提交')", []),
        ("INSERT INTO work_plans (department_id, period, title, owner_id, status) VALUES (1, '2026-Q3', '季度计划', 1, '已提交')", []),
    ])
    missing = conn.execute(_sql("work_plans"), TODAY).fetchall()
    assert [row[0] for row in missing] == ["2026-10", "2026-09", "2026-08", "2026-07", "2026-06"]
    assert {row[3] for row in missing} == {"市场推广组"}       # a department with no head is not expected to plan


@pytest.mark.asyncio
async def test_the_reports_are_offered_to_those_who_read_the_registers(demo_ds):
    response = await demo_ds.client.get("/ops/missing_meetings_1.json?_extra=columns", actor=actor("manager"))
    assert response.status_code == 200
    assert response.json()["columns"] == ["期间", "开始日期", "结束日期"]
    # Weekly reports are personal: a viewer may not read them, so not their report either.
    assert (await demo_ds.client.get("/ops/missing_work_reports_1.json", actor=actor("viewer"))).status_code == 403
    assert (await demo_ds.client.get("/ops/missing_work_reports_1.json", actor=actor("manager"))).status_code == 200
