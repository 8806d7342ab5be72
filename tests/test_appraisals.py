"""绩效考核 (appraisals) and 绩效改进计划 (improvement_plans), from db/registers.yml: the score,
grade and bonus coefficient the database derives (at the band edges), the workflow for the people
it names and the kind of each refusal, row-level access through the table JSON, the missing
monthly appraisals (cadence), the reports, and the hand-kept sample workbook imported.

The people: 运营部 (head 经理 00001, also the operations manager) above 客户运营组 (head 组长
00002), whose staff are 员工 00003 and 同事 00004; 领导 00005 (leader) and 人事 00006 (hr) sit in
运营部; 离职 00007 has left."""

import re
import sqlite3
from pathlib import Path

import pytest
import pytest_asyncio
from click.testing import CliRunner

from scripts.cli import cli
from taizhang import audit, cadence, clock, workflow
from taizhang.app import make_datasette
from taizhang.datadir import DataDir, init
from taizhang.registers import load
from tests.conftest import actor

pytestmark = pytest.mark.fast

DEFINITION = load()
REG = DEFINITION.registers["appraisals"]
PLANS = DEFINITION.registers["improvement_plans"]
MANAGER, HEAD, STAFF, COLLEAGUE, LEADER, HR = 1, 2, 3, 4, 5, 6


def who(employee_no=None, *roles, note=None) -> audit.Who:
    return audit.Who(actor=f"test-{employee_no or roles[0]}", role=roles[0], source="cli", note=note,
                     employee_no=employee_no, roles=roles)


ADMIN = who(None, "admin")
MANAGER_W = who("00001", "manager", "employee", "department_head")
HEAD_W = who("00002", "employee", "department_head")
STAFF_W = who("00003", "employee")
COLLEAGUE_W = who("00004", "employee")
LEADER_W = who("00005", "leader", "employee")
HR_W = who("00006", "hr", "employee")


class Ops:
    def __init__(self, data_dir):
        self.conn = data_dir.connect("ops")
        self.key = audit.key_from_secret(data_dir.secret())

    def write(self, writer: audit.Who, sql: str, *params):
        with audit.audited(self.conn, writer, self.key):
            return self.conn.execute(sql, params).lastrowid

    def refused(self, writer: audit.Who, sql: str, *params) -> str:
        """The kind (taizhang.workflow.refusals) of the workflow refusal the write meets."""
        with pytest.raises(sqlite3.IntegrityError) as caught:
            self.write(writer, sql, *params)
        kinds = {**workflow.refusals(REG, DEFINITION), **workflow.refusals(PLANS, DEFINITION)}
        assert str(caught.value) in kinds, str(caught.value)
        return kinds[str(caught.value)]

    def row(self, table: str, row_id: int) -> dict:
        cursor = self.conn.execute(f"SELECT * FROM {table} WHERE id = ?", [row_id])
        return dict(zip([d[0] for d in cursor.description], cursor.fetchone()))

    def move(self, writer: audit.Who, row_id: int, state: str, note: str | None = None, table: str = "appraisals"):
        writer = audit.Who(**{**writer.__dict__, "note": note}) if note else writer
        self.write(writer, f"UPDATE {table} SET status = ? WHERE id = ?", state, row_id)


def _people(db: Ops) -> None:
    db.write(ADMIN, "INSERT INTO departments (id, name) VALUES (1, '运营部'), (2, '客户运营组')")
    db.write(ADMIN, "INSERT INTO employees (id, employee_no, name, department_id, status) VALUES"
                    " (1, '00001', '经理', 1, '在职'), (2, '00002', '组长', 2, '在职'), (3, '00003', '员工', 2, '在职'),"
                    " (4, '00004', '同事', 2, '试用'), (5, '00005', '领导', 1, '在职'), (6, '00006', '人事', 1, '在职'),"
                    " (7, '00007', '离职', 2, '离职')")
    db.write(ADMIN, "UPDATE departments SET manager_id = 1 WHERE id = 1")
    db.write(ADMIN, "UPDATE departments SET manager_id = 2, parent_id = 1 WHERE id = 2")


@pytest.fixture
def ops(empty_data_dir):
    db = Ops(empty_data_dir)
    _people(db)
    yield db
    db.conn.close()


def _scored(db: Ops, employee: int, period: str, **scores) -> int:
    """An appraisal written by an administrator with the scores given (edits allowed in 待自评)."""
    row_id = db.write(ADMIN, "INSERT INTO appraisals (employee_id, period) VALUES (?, ?)", employee, period)
    if scores:
        db.write(ADMIN, f"UPDATE appraisals SET {', '.join(f'{c} = ?' for c in scores)} WHERE id = ?",
                 *scores.values(), row_id)
    return row_id


# -- derived columns ---------------------------------------------------------------------------
@pytest.mark.parametrize("superior, total, grade, coefficient", [
    (100, 100.0, "优秀", 1.5), (90, 90.0, "优秀", 1.5), (89.99, 89.99, "良好", 1.2), (75, 75.0, "良好", 1.2),
    (74.99, 74.99, "合格", 1.0), (60, 60.0, "合格", 1.0), (59.99, 59.99, "不合格", 0.0), (0, 0.0, "不合格", 0.0),
])
def test_grade_and_coefficient_at_the_band_edges(ops, superior, total, grade, coefficient):
    row = ops.row("appraisals", _scored(ops, STAFF, "2026-10", superior_score=superior))
    assert (row["total_score"], row["grade"], row["bonus_coefficient"]) == (total, grade, coefficient)


def test_the_weighted_score_counts_only_the_ratings_given(ops):
    # 上级 50%、同事 20%、客户 20%、自评 10%
    every = ops.row("appraisals", _scored(ops, STAFF, "2026-10", self_score=100, peer_score=70, superior_score=80,
                                          customer_score=90))
    assert every["total_score"] == 82.0 and every["grade"] == "良好"
    # no peer or customer rating (not every post has them): the weights of the others, renormalised
    two = ops.row("appraisals", _scored(ops, COLLEAGUE, "2026-10", self_score=50, superior_score=62))
    assert two["total_score"] == round((50 * 62 + 10 * 50) / 60, 2) == 60.0 and two["grade"] == "合格"
    # before the superior has scored there is no score, grade or coefficient
    self_only = ops.row("appraisals", _scored(ops, HEAD, "2026-10", self_score=95))
    assert (self_only["total_score"], self_only["grade"], self_only["bonus_coefficient"]) == (None, None, None)


def test_kind_department_and_title_follow_the_row(ops):
    rows = [ops.row("appraisals", _scored(ops, STAFF, period)) for period in ("2026-10", "2026-Q4", "2026")]
    assert [r["kind"] for r in rows] == ["月度", "季度", "年度"]
    assert {r["department_id"] for r in rows} == {2}
    assert rows[1]["title"] == "员工 2026-Q4 季度考核"


def test_nobody_chooses_a_grade_or_a_coefficient(ops):
    row_id = _scored(ops, STAFF, "2026-10", superior_score=50)
    ops.write(ADMIN, "UPDATE appraisals SET grade = '优秀', bonus_coefficient = 2, total_score = 99 WHERE id = ?", row_id)
    row = ops.row("appraisals", row_id)
    assert (row["total_score"], row["grade"], row["bonus_coefficient"]) == (50.0, "不合格", 0.0)
    # a rescored row follows its score
    ops.write(ADMIN, "UPDATE appraisals SET superior_score = 91 WHERE id = ?", row_id)
    assert ops.row("appraisals", row_id)["grade"] == "优秀"


# -- the workflow ------------------------------------------------------------------------------
def _to_be_confirmed(db: Ops, employee: int = STAFF, head: audit.Who = HEAD_W, owner: audit.Who = STAFF_W) -> int:
    row_id = db.write(head, "INSERT INTO appraisals (employee_id, period) VALUES (?, '2026-10')", employee)
    db.write(owner, "UPDATE appraisals SET self_score = 85, self_comment = '按时完成回访' WHERE id = ?", row_id)
    db.move(owner, row_id, "待上级评分")
    db.write(head, "UPDATE appraisals SET superior_score = 80, superior_comment = '完成质量较好' WHERE id = ?", row_id)
    db.move(head, row_id, "待确认")
    return row_id


def test_self_assessment_rating_and_confirmation_by_the_people_named(ops):
    row_id = _to_be_confirmed(ops)
    ops.move(MANAGER_W, row_id, "已确认")
    row = ops.row("appraisals", row_id)
    assert row["status"] == "已确认" and row["grade"] == "良好"
    assert row["reviewer_id"] == HEAD                        # 提交评分 records who scored
    assert row["confirmed_on"] == clock.today().isoformat()  # 确认 the day
    # the head's own appraisal is scored by the head above (运营部's), and the leader confirms it too
    own = _to_be_confirmed(ops, HEAD, MANAGER_W, HEAD_W)
    ops.move(LEADER_W, own, "已确认")
    assert ops.row("appraisals", own)["reviewer_id"] == MANAGER


def test_wrong_people_and_steps_are_refused_by_kind(ops):
    row_id = ops.write(HEAD_W, "INSERT INTO appraisals (employee_id, period) VALUES (3, '2026-10')")
    # the self-assessment needs a self score, and only the employee hands it in
    assert ops.refused(STAFF_W, "UPDATE appraisals SET status = '待上级评分' WHERE id = ?", row_id) == "condition"
    ops.write(STAFF_W, "UPDATE appraisals SET self_score = 70 WHERE id = ?", row_id)
    assert ops.refused(HR_W, "UPDATE appraisals SET status = '待上级评分' WHERE id = ?", row_id) == "not_allowed"
    ops.move(STAFF_W, row_id, "待上级评分")
    # while it is open each score is its rater's: not the employee's superior score, nor the
    # head's self score
    assert ops.refused(STAFF_W, "UPDATE appraisals SET superior_score = 99 WHERE id = ?", row_id) == "not_allowed"
    assert ops.refused(STAFF_W, "UPDATE appraisals SET customer_score = 99 WHERE id = ?", row_id) == "not_allowed"
    assert ops.refused(HEAD_W, "UPDATE appraisals SET self_score = 40 WHERE id = ?", row_id) == "not_allowed"
    # the employee cannot score themself into 待确认, nor jump to 已确认
    ops.write(HEAD_W, "UPDATE appraisals SET superior_score = 65 WHERE id = ?", row_id)
    assert ops.refused(STAFF_W, "UPDATE appraisals SET status = '待确认' WHERE id = ?", row_id) == "not_allowed"
    assert ops.refused(HEAD_W, "UPDATE appraisals SET status = '已确认' WHERE id = ?", row_id) == "transition"
    # 退回 needs a reason
    assert ops.refused(HEAD_W, "UPDATE appraisals SET status = '已退回' WHERE id = ?", row_id) == "comment"
    ops.move(HEAD_W, row_id, "待确认")
    # scored: frozen for everyone, the head too; the head does not confirm
    assert ops.refused(HEAD_W, "UPDATE appraisals SET superior_score = 95 WHERE id = ?", row_id) == "frozen"
    assert ops.refused(STAFF_W, "UPDATE appraisals SET self_score = 95 WHERE id = ?", row_id) == "frozen"
    assert ops.refused(HEAD_W, "UPDATE appraisals SET status = '已确认' WHERE id = ?", row_id) == "not_allowed"
    ops.move(MANAGER_W, row_id, "已确认")
    # an appeal is the employee's, with a reason
    assert ops.refused(STAFF_W, "UPDATE appraisals SET status = '申诉中' WHERE id = ?", row_id) == "comment"
    assert ops.refused(who("00006", "hr", "employee", note="代为申诉"),
                       "UPDATE appraisals SET status = '申诉中' WHERE id = ?", row_id) == "not_allowed"
    # a new row starts in 待自评, and without a writer nothing moves
    assert ops.refused(ADMIN, "INSERT INTO appraisals (employee_id, period, status) VALUES (4, '2026-10', '已确认')") == "create"
    with pytest.raises(sqlite3.IntegrityError) as caught:
        ops.conn.execute("UPDATE appraisals SET status = '申诉中' WHERE id = ?", [row_id])
    assert workflow.refusals(REG)[str(caught.value)] == "no_context"


def test_return_appeal_and_rescoring(ops):
    row_id = ops.write(HEAD_W, "INSERT INTO appraisals (employee_id, period) VALUES (3, '2026-10')")
    ops.write(STAFF_W, "UPDATE appraisals SET self_score = 60 WHERE id = ?", row_id)
    ops.move(STAFF_W, row_id, "待上级评分")
    ops.move(HEAD_W, row_id, "已退回", "请补充本月工作业绩")
    ops.write(STAFF_W, "UPDATE appraisals SET achievements = '完成 32 户回访' WHERE id = ?", row_id)
    ops.move(STAFF_W, row_id, "待上级评分")
    ops.write(HEAD_W, "UPDATE appraisals SET superior_score = 55 WHERE id = ?", row_id)
    ops.move(HEAD_W, row_id, "待确认")
    ops.move(MANAGER_W, row_id, "已确认")
    assert ops.row("appraisals", row_id)["grade"] == "不合格"
    ops.move(STAFF_W, row_id, "申诉中", "临时任务未计入工作业绩")
    ops.move(MANAGER_W, row_id, "待上级评分", "请重新评分")
    ops.write(HEAD_W, "UPDATE appraisals SET superior_score = 72 WHERE id = ?", row_id)
    ops.move(HEAD_W, row_id, "待确认")
    ops.move(MANAGER_W, row_id, "已确认")
    row = ops.row("appraisals", row_id)
    assert (row["grade"], row["bonus_coefficient"]) == ("合格", 1.0)
    notes = [n for (n,) in ops.conn.execute("SELECT note FROM _audit_log WHERE table_name = 'appraisals' AND row_id = ?"
                                            " AND note IS NOT NULL ORDER BY id", [row_id])]
    assert notes == ["请补充本月工作业绩", "临时任务未计入工作业绩", "请重新评分"]   # the timeline's comments


def test_an_improvement_plan_is_agreed_carried_out_and_evaluated(ops):
    appraisal = _to_be_confirmed(ops)
    assert PLANS.parent == "appraisal_id" and PLANS in DEFINITION.children("appraisals")
    plan = ops.write(HEAD_W, "INSERT INTO improvement_plans (appraisal_id, employee_id, goal, starts_on, deadline)"
                             " VALUES (?, 3, '回访量每月不少于 30 户', '2026-11-01', '2026-12-31')", appraisal)
    assert ops.row("improvement_plans", plan)["status"] == "草拟"
    assert ops.refused(HEAD_W, "UPDATE improvement_plans SET status = '执行中' WHERE id = ?", plan) == "not_allowed"
    ops.move(STAFF_W, plan, "执行中", table="improvement_plans")
    assert ops.refused(STAFF_W, "UPDATE improvement_plans SET status = '待评估' WHERE id = ?", plan) == "condition"
    ops.write(STAFF_W, "UPDATE improvement_plans SET result = '11 月回访 34 户' WHERE id = ?", plan)
    ops.move(STAFF_W, plan, "待评估", table="improvement_plans")
    assert ops.refused(STAFF_W, "UPDATE improvement_plans SET status = '已达成' WHERE id = ?", plan) == "not_allowed"
    ops.move(HEAD_W, plan, "已达成", table="improvement_plans")
    assert ops.row("improvement_plans", plan)["evaluated_on"] == clock.today().isoformat()


# -- row-level access --------------------------------------------------------------------------
@pytest_asyncio.fixture
async def rows_ds(empty_data_dir):
    db = Ops(empty_data_dir)
    _people(db)
    for employee in (MANAGER, HEAD, STAFF, COLLEAGUE):
        row_id = _scored(db, employee, "2026-10", superior_score=50 + 10 * employee)
        db.write(ADMIN, "INSERT INTO improvement_plans (id, appraisal_id, employee_id, goal, starts_on, deadline)"
                        " VALUES (?, ?, ?, '目标', '2026-11-01', '2026-12-31')", row_id, row_id, employee)
    db.conn.close()
    ds = make_datasette(empty_data_dir)
    await ds.invoke_startup()
    return ds


EMPLOYEE = {"id": "u-employee", "roles": ["employee"], "employee_no": "00003"}
HEAD_LOGIN = {"id": "u-head", "roles": ["employee", "department_head"], "employee_no": "00002"}


async def _owners(ds, table, who):
    response = await ds.client.get(f"/ops/{table}.json?_shape=objects&_size=max", actor=who)
    assert response.status_code == 200, response.text
    return {row["employee_id"] for row in response.json()["rows"]}


@pytest.mark.asyncio
@pytest.mark.parametrize("table", ["appraisals", "improvement_plans"])
async def test_the_employee_reads_their_own_and_the_head_their_department(rows_ds, table):
    assert await _owners(rows_ds, table, EMPLOYEE) == {STAFF}
    assert await _owners(rows_ds, table, HEAD_LOGIN) == {HEAD, STAFF, COLLEAGUE}
    for role in ("manager", "hr", "leader"):     # superiors and hr read them all
        assert await _owners(rows_ds, table, actor(role)) == {MANAGER, HEAD, STAFF, COLLEAGUE}


@pytest.mark.asyncio
async def test_an_employee_cannot_read_a_colleagues_grade(rows_ds):
    mine = await rows_ds.client.get("/ops/appraisals/3.json?_shape=objects", actor=EMPLOYEE)
    assert mine.status_code == 200 and mine.json()["rows"][0]["grade"] == "良好"    # 80: told to the employee
    colleague = await rows_ds.client.get("/ops/appraisals/4.json", actor=EMPLOYEE)
    missing = await rows_ds.client.get("/ops/appraisals/999.json", actor=EMPLOYEE)
    assert colleague.status_code == missing.status_code == 404
    filtered = await rows_ds.client.get("/ops/appraisals.json?employee_id=4&_shape=objects", actor=EMPLOYEE)
    assert filtered.json()["rows"] == []
    facets = await rows_ds.client.get("/ops/appraisals.json?_facet=grade&_extra=facet_results", actor=EMPLOYEE)
    assert sum(f["count"] for f in facets.json()["facet_results"]["results"]["grade"]["results"]) == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("role", ["viewer", "analyst", "editor", "finance", "office"])
async def test_roles_that_are_not_superiors_read_no_appraisal(rows_ds, role):
    for table in ("appraisals", "improvement_plans"):
        assert (await rows_ds.client.get(f"/ops/{table}.json", actor=actor(role))).status_code == 403
    analyst_sql = await rows_ds.client.get("/ops/-/query.json?sql=select+grade+from+appraisals", actor=actor("analyst"))
    assert analyst_sql.status_code in (400, 403)


@pytest.mark.asyncio
async def test_an_employee_cannot_write_a_colleagues_appraisal(rows_ds):
    response = await rows_ds.client.post("/ops/appraisals/-/insert", actor=EMPLOYEE,
                                         json={"row": {"employee_id": COLLEAGUE, "period": "2026-11"}})
    assert response.status_code == 400, response.text
    response = await rows_ds.client.post("/ops/appraisals/4/-/update", actor=EMPLOYEE, json={"update": {"self_score": 100}})
    assert response.status_code == 404


# -- missing monthly appraisals (cadence) -------------------------------------------------------
def test_a_monthly_appraisal_is_expected_of_every_employee_in_post(ops):
    for period in ("2026-11", "2026-10", "2026-09"):
        _scored(ops, STAFF, period)
    _scored(ops, HEAD, "2026-11")
    _scored(ops, COLLEAGUE, "2026-Q4")                        # a quarterly one is not the monthly one
    sql = cadence.reports(DEFINITION)["ops"]["missing_appraisals_1"]["sql"]
    missing = ops.conn.execute(sql, {"_tz_today": "2026-12-02"}).fetchall()
    by_person = {}
    for period, _, _, _name, no in missing:
        by_person.setdefault(no, []).append(period)
    # 员工 has all three; 组长 misses two months; 同事 (试用) all three; 离职 has left; 经理 heads 运营部,
    # the top department (appraised outside the register).
    assert by_person == {"00002": ["2026-10", "2026-09"], "00004": ["2026-11", "2026-10", "2026-09"],
                         "00005": ["2026-11", "2026-10", "2026-09"], "00006": ["2026-11", "2026-10", "2026-09"]}


# -- reports -----------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_reports_on_the_demo_data(demo_ds):
    manager = actor("manager")
    grades = (await demo_ds.client.get("/ops/appraisal_grade_distribution.json?_shape=objects", actor=manager)).json()["rows"]
    assert grades and all(r["已评分人数"] == r["优秀"] + r["良好"] + r["合格"] + r["不合格"] for r in grades)
    coefficients = (await demo_ds.client.get("/ops/appraisal_bonus_coefficients.json?_shape=objects&period=2026-09",
                                             actor=manager)).json()["rows"]
    assert coefficients and {r["考核期间"] for r in coefficients} == {"2026-09"}
    assert {(r["考核等级"], r["奖金系数"]) for r in coefficients} <= {("优秀", 1.5), ("良好", 1.2), ("合格", 1.0), ("不合格", 0.0)}
    failing = (await demo_ds.client.get("/ops/failing_appraisals_without_plan.json?_shape=objects", actor=manager)).json()["rows"]
    assert len(failing) == 1 and failing[0]["综合得分"] < 60
    for role in ("viewer", "analyst", "employee", "department_head", "finance"):
        response = await demo_ds.client.get("/ops/appraisal_bonus_coefficients.json", actor=actor(role))
        assert response.status_code == 403, role
    assert (await demo_ds.client.get("/ops/missing_appraisals_1.json", actor=actor("hr"))).status_code == 200


# -- the hand-kept sample workbook ---------------------------------------------------------------
SAMPLES = Path(__file__).parent / "samples"


def _cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_the_sample_sheet_imports_or_reports_each_row(tmp_path):
    data_dir = DataDir.resolve(tmp_path / "data")
    init(data_dir)
    store = data_dir.users()
    store.add("importer", "Imp0rt-password-1", "admin", None)
    store.close()
    assert _cli("import", SAMPLES / "departments.xlsx", SAMPLES / "employees.xlsx", "--data-dir", data_dir.path,
                "--quiet").exit_code == 0
    result = _cli("import", SAMPLES / "appraisals.xlsx", "--skip-invalid", "--actor", "importer", "--data-dir", data_dir.path)
    assert result.exit_code == 0, result.output
    problems = [line.strip() for line in result.output.splitlines() if line.strip().startswith("问题：")]
    assert {int(re.search(r"第 (\d+) 行", p)[1]) for p in problems} == {8, 9, 10, 11}, result.output
    assert any("“自评”列：自评得分必须在 0 到 100 之间（值：105.0）" in p for p in problems)
    assert any("“考核期间”列：无法识别的评估期间：2026年13月" in p for p in problems)
    assert any("不在册的人" in p for p in problems) and any("「已确认」" in p for p in problems)
    conn = sqlite3.connect(data_dir.database("ops"))
    stored = conn.execute("""SELECT e.employee_no, a.period, a.kind, a.self_score, a.total_score, a.grade, a.status
        FROM appraisals a JOIN employees e ON e.id = a.employee_id ORDER BY e.employee_no""").fetchall()
    conn.close()
    assert stored == [
        ("00003", "2026-10", "月度", 92.0, 89.0, "良好", "待自评"),      # 2026年10月
        ("00004", "2026-Q3", "季度", 70.0, 61.25, "合格", "待自评"),     # 2026Q3
        ("00005", "2026", "年度", 88.0, None, None, "待自评"),           # 2026年度, state left blank
        ("00012", "2026-10", "月度", 85.0, 81.88, "良好", "待自评"),     # by 工号, a real date, 85分, 未开始
    ]
