"""The process registers' sample workbooks (tests/samples/make_process_samples.py) imported with
`taizhang import`: typed and real Excel date-times, people by name or 工号, synonyms — every row
lands or is reported with its file, row, column and value; a row in a state a new row may not
start in is refused by the workflow rule."""

import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from scripts.cli import cli
from taizhang.datadir import DataDir, init

pytestmark = pytest.mark.fast

SAMPLES = Path(__file__).parent / "samples"
PROCESS_SAMPLES = ["leave_requests", "expense_claims", "customer_feedback", "customer_visits"]


def _cli(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _rows(data_dir, sql, *params):
    conn = sqlite3.connect(data_dir.database("ops"))
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The roster and customers from the existing samples, then each process sample with
    --skip-invalid as an admin login: -> (data_dir, {register: CLI result})."""
    data_dir = DataDir.resolve(tmp_path_factory.mktemp("process") / "data")
    init(data_dir)
    store = data_dir.users()
    store.add("importer", "Imp0rt-password-1", "admin", None)
    store.close()
    base = _cli("import", SAMPLES / "departments.xlsx", SAMPLES / "employees.xlsx", "--data-dir", data_dir.path, "--quiet")
    assert base.exit_code == 0, base.output
    for name in ("customer_tiers", "customers"):
        assert _cli("import", SAMPLES / f"{name}.xlsx", "--data-dir", data_dir.path, "--quiet").exit_code == 0
    results = {name: _cli("import", SAMPLES / f"{name}.xlsx", "--skip-invalid", "--actor", "importer",
                          "--data-dir", data_dir.path) for name in PROCESS_SAMPLES}
    return data_dir, results


def _problems(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("问题：")]


def _workflow_triggers(data_dir) -> bool:
    """Whether the file has triggers that read the writer's roles (the workflow rules)."""
    return bool(_rows(data_dir, "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'leave_requests'"
                                " AND sql LIKE '%_audit_context%' AND sql LIKE '%roles%'"))


@pytest.mark.parametrize("name", PROCESS_SAMPLES)
def test_every_row_lands_or_is_reported_by_file_row_column_and_value(imported, name):
    data_dir, results = imported
    result = results[name]
    assert result.exit_code == 0, result.output
    data_rows = int(re.search(r"，(\d+) 行数据", result.output)[1])
    problems = _problems(result.output)
    reported_rows = {int(m[1]) for p in problems if (m := re.search(r"第 (\d+) 行", p))}
    stored = _rows(data_dir, f"SELECT count(*) FROM {name}")[0][0]
    assert stored + len(reported_rows) == data_rows, result.output
    for problem in problems:   # file, row, column and the value as written
        assert re.match(rf"问题：{name}\.xlsx「[^」]+」第 \d+ 行(“[^”]+”列)?：.+（值：.*）", problem), problem


def test_leave_requests_values(imported):
    data_dir, results = imported
    stored = _rows(data_dir, """SELECT e.employee_no, l.kind, l.starts_on, l.ends_on, l.days, l.status
        FROM leave_requests l JOIN employees e ON e.id = l.applicant_id ORDER BY l.starts_on""")
    assert ("00012", "病假", "2026-11-30", "2026-11-30", 1.0, "已提交") in stored          # by 工号
    assert ("00004", "事假", "2026-12-08", "2026-12-08", 0.5, "已提交") in stored           # 0.5天, 待审批
    assert ("00005", "调休", "2026-12-21", "2026-12-22", 2.0, "已提交") in stored           # 調休, 2026年12月21日
    assert ("00006", "病假", "2026-12-03", "2026-12-04", 2.0, "已提交") in stored           # sick
    assert ("00002", "年假", "2027-01-04", "2027-01-08", 5.0, "草稿") in stored             # days left blank
    problems = "\n".join(_problems(results["leave_requests"].output))
    assert "第 10 行" in problems and "结束日期不能早于开始日期" in problems                   # ends before it starts
    assert "第 11 行“姓名”列" in problems and "不在册的人" in problems                        # no such employee


def test_customer_feedback_datetimes_typed_and_real(imported):
    data_dir, results = imported
    stored = dict(_rows(data_dir, "SELECT feedback_no, received_at || ' / ' || coalesce(reply_due_at, '') FROM customer_feedback"))
    assert stored["FK-20261201-01"] == "2026-12-01 09:20 / 2026-12-02 09:20"       # Excel date-time cells
    assert stored["FK-20261201-02"] == "2026-12-01 14:05 / 2026-12-03 14:05"       # 2026/12/1 14:05
    assert stored["FK-20261202-03"] == "2026-12-02 08:40 / 2026-12-05 08:40"       # T; 建议: 72 hours
    assert stored["FK-20261202-04"] == "2026-12-02 09:30 / 2026-12-03 09:30"       # full-width, 年月日 点分
    problems = "\n".join(_problems(results["customer_feedback"].output))
    assert "第 8 行“登记时间”列：无法识别的日期时间：12月2日上午（值：12月2日上午）" in problems
    assert "第 9 行“回复期限”列：无法识别的日期时间：2026-12-02 25:00" in problems


def test_expense_claims_and_visits_values(imported):
    data_dir, results = imported
    claims = dict(_rows(data_dir, "SELECT claim_no, category || ' ' || amount || ' ' || incurred_on || ' ' || status FROM expense_claims"))
    assert claims["BX-202611-002"] == "推广费 18600.0 2026-11-20 草稿"
    assert claims["BX-202611-003"] == "招待费 1280.0 2026-11-18 已提交"
    assert claims["BX-202611-004"] == "差旅费 2130.0 2026-11-12 已提交"
    problems = "\n".join(_problems(results["expense_claims"].output))
    assert "BX-202611-005" not in claims and "BX-202611-006" not in claims
    assert "“报销金额”列" in problems and "一百元" in problems
    visits = _rows(data_dir, """SELECT c.customer_no, v.visited_on, v.method, v.satisfaction, v.churn_risk
        FROM customer_visits v JOIN customers c ON c.id = v.customer_id ORDER BY c.customer_no""")
    assert ("KH000002", "2026-11-18", "上门", 4, "低") in visits and ("KH000003", "2026-11-15", "微信", 3, "中") in visits
    problems = "\n".join(_problems(results["customer_visits"].output))
    assert "第 8 行“满意度”列：满意度必须在 1 到 5 之间（值：6）" in problems and "第 9 行“客户”列：客户档案中没有" in problems


@pytest.mark.parametrize("name, key, state", [
    ("leave_requests", "reason", "已批准"), ("expense_claims", "claim_no", "已支付"), ("customer_feedback", "feedback_no", "已关闭"),
])
def test_a_row_in_a_state_new_rows_may_not_start_in_is_refused(imported, name, key, state):
    data_dir, results = imported
    if not _workflow_triggers(data_dir):
        pytest.skip("the workflow triggers are not in this build yet")
    assert _rows(data_dir, f"SELECT count(*) FROM {name} WHERE status = ?", state) == [(0,)]
    problems = "\n".join(_problems(results[name].output))
    assert state in problems, problems
