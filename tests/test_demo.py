"""Demo data (taizhang/demo.py, taizhang/demo_processes.py): volumes, the cases the reports look
for, determinism, and workflow rows whose every step was taken by someone the definition allows."""

import datetime
import json
import re

import pytest

from taizhang import demo, registers, xref
from taizhang.datadir import DataDir, init

pytestmark = pytest.mark.fast

TODAY = datetime.date(2026, 11, 21)
REGISTERS = [
    "departments", "employees", "partners", "partner_evaluations", "training_sessions",
    "training_records", "customer_tiers", "customers", "meetings", "meeting_actions",
    "tasks", "task_updates", "leave_requests", "expense_claims", "customer_feedback", "customer_visits",
    "rectifications", "work_plans", "work_reports", "customer_receptions", "appraisals", "improvement_plans",
]


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    data_dir = DataDir.resolve(tmp_path_factory.mktemp("demo"))
    init(data_dir)
    counts = demo.fill(data_dir, today=TODAY)
    ops, hr = data_dir.connect("ops"), data_dir.connect("hr")
    yield data_dir, counts, ops, hr
    ops.close()
    hr.close()


def one(conn, sql, *params):
    return conn.execute(sql, params).fetchone()[0]


def test_counts_match_the_tables(filled):
    _, counts, ops, hr = filled
    for table in REGISTERS:
        if table != "customer_tiers":
            assert counts[table] == one(ops, f"SELECT count(*) FROM {table}"), table
    assert counts["confidentiality_agreements"] == one(hr, "SELECT count(*) FROM confidentiality_agreements")
    assert one(ops, "SELECT count(*) FROM customer_tiers") == 3


def test_departments_and_employees(filled):
    _, _, ops, _ = filled
    assert one(ops, "SELECT count(*) FROM departments") >= 8
    assert one(ops, "SELECT count(*) FROM departments WHERE manager_id IS NULL") == 0
    assert one(ops, "SELECT count(*) FROM departments WHERE parent_id IS NOT NULL") >= 5
    assert one(ops, "SELECT count(*) FROM employees") >= 60
    assert one(ops, "SELECT count(*) FROM employees WHERE employee_no NOT GLOB '[0-9][0-9][0-9][0-9][0-9]'") == 0
    assert one(ops, "SELECT min(employee_no) FROM employees") == "00001"
    assert one(ops, "SELECT count(*) FROM employees WHERE name = '张伟'") >= 2
    assert one(ops, "SELECT count(*) FROM employees WHERE name IN ('陳嘉欣', '黃志明')") == 2
    assert one(ops, "SELECT count(*) FROM employees WHERE typeof(phone) != 'text' OR phone NOT GLOB '1[0-9]*'") == 0
    assert one(ops, "SELECT count(*) FROM employees WHERE status = '离职' AND left_on >= hired_on") >= 3
    assert one(ops, "SELECT count(*) FROM employees WHERE status = '试用'") >= 3
    assert one(ops, "SELECT count(*) FROM employees WHERE email IS NULL OR hired_on IS NULL") == 0


def test_demo_accounts_are_meaningful(filled):
    _, _, ops, _ = filled
    assert set(demo.DEMO_ACCOUNTS) == {"admin", "manager", "hr", "editor", "analyst", "viewer",
                                       "employee", "finance", "leader", "office"}
    assert set(demo.DEMO_ACCOUNTS) | {"department_head"} == set(registers.load().roles)
    for no in demo.DEMO_ACCOUNTS.values():
        assert one(ops, "SELECT status FROM employees WHERE employee_no = ?", no) == "在职"
    for role in ("manager", "editor"):
        no = demo.DEMO_ACCOUNTS[role]
        overdue_actions = one(ops, """SELECT count(*) FROM meeting_actions a JOIN employees e ON e.id = a.owner_id
            WHERE e.employee_no = ? AND a.due_on < ? AND a.status IN ('未开始', '进行中')""", no, TODAY.isoformat())
        due_customers = one(ops, """SELECT count(*) FROM customers c JOIN employees e ON e.id = c.owner_id
            JOIN customer_tiers t ON t.id = c.tier_id
            WHERE e.employee_no = ? AND c.last_visit_on < date(?, '-' || t.follow_up_days || ' days')""",
            no, TODAY.isoformat())
        assert overdue_actions >= 1 and due_customers >= 1, role


def test_partners(filled):
    _, _, ops, _ = filled
    today = TODAY.isoformat()
    assert one(ops, "SELECT count(*) FROM partners") >= 40
    assert one(ops, "SELECT count(DISTINCT category) FROM partners") == 6
    assert one(ops, "SELECT count(DISTINCT status) FROM partners") == 3
    assert one(ops, """SELECT count(*) FROM partners WHERE owner_id IS NULL OR agreement_start > ?
        OR agreement_end < agreement_start OR cooperating_since > agreement_start""", today) == 0
    assert one(ops, "SELECT count(*) FROM partners WHERE agreement_end BETWEEN ? AND date(?, '+60 days')",
               today, today) >= 3
    assert one(ops, "SELECT count(*) FROM partners WHERE agreement_end < ? AND status = '合作中'", today) >= 2
    for word in ("预算", "培训", "客户"):
        assert one(ops, "SELECT count(*) FROM partners WHERE notes LIKE ?", f"%{word}%") >= 1, word


def test_partner_evaluations(filled):
    _, _, ops, _ = filled
    periods = [p for (p,) in ops.execute("SELECT DISTINCT period FROM partner_evaluations ORDER BY period")]
    assert periods == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    assert one(ops, """SELECT count(*) FROM partners p WHERE
        (SELECT count(*) FROM partner_evaluations e WHERE e.partner_id = p.id) != 4""") == 0
    assert one(ops, "SELECT count(*) FROM partner_evaluations WHERE total_score IS NULL OR rating IS NULL") == 0
    assert one(ops, "SELECT count(*) FROM partner_evaluations WHERE evaluated_on > ?", TODAY.isoformat()) == 0
    assert one(ops, """SELECT count(*) FROM partner_evaluations a JOIN partner_evaluations b
        ON a.partner_id = b.partner_id AND a.period = '2026-Q2' AND b.period = '2026-Q3'
        WHERE a.rating = '不合格' AND b.rating = '不合格' AND b.total_score < 60""") >= 1


def test_training(filled):
    _, _, ops, _ = filled
    year = str(TODAY.year)
    assert one(ops, "SELECT count(*) FROM training_sessions") >= 30
    assert one(ops, "SELECT count(DISTINCT plan_year) FROM training_sessions") == 2
    assert one(ops, "SELECT count(*) FROM training_sessions WHERE ends_on < starts_on") == 0
    assert one(ops, "SELECT count(*) FROM training_sessions WHERE status = '已取消'") >= 2
    assert one(ops, "SELECT count(*) FROM training_sessions WHERE status = '已完成' AND starts_on >= ?",
               TODAY.isoformat()) == 0
    assert one(ops, "SELECT count(*) FROM training_sessions WHERE status = '计划中' AND starts_on < ?",
               TODAY.isoformat()) == 0
    assert one(ops, "SELECT count(*) FROM training_sessions WHERE cost != round(cost, 2)") == 0
    assert one(ops, "SELECT count(*) FROM training_records") >= 200
    assert one(ops, "SELECT count(*) FROM training_records WHERE attendance = '已参加' AND score IS NULL") == 0
    untrained = one(ops, """SELECT count(*) FROM employees e WHERE e.status != '离职' AND NOT EXISTS (
        SELECT 1 FROM training_records r JOIN training_sessions s ON s.id = r.session_id
        WHERE r.employee_id = e.id AND s.plan_year = ?)""", int(year))
    assert untrained >= 3


def test_customers(filled):
    _, _, ops, _ = filled
    today = TODAY.isoformat()
    tiers = ops.execute("SELECT name, rank, follow_up_days FROM customer_tiers ORDER BY rank").fetchall()
    assert tiers == [("重要客户", 1, 30), ("普通客户", 2, 90), ("潜在客户", 3, 180)]
    assert one(ops, "SELECT count(*) FROM customers") >= 500
    assert one(ops, "SELECT count(*) FROM customers WHERE customer_no NOT GLOB 'C[0-9][0-9][0-9][0-9][0-9]'") == 0
    assert one(ops, "SELECT count(DISTINCT kind) FROM customers") == 2
    assert one(ops, "SELECT count(DISTINCT tier_id) FROM customers") == 3
    assert one(ops, "SELECT count(*) FROM customers WHERE kind = '个人' AND contact_person IS NOT NULL") == 0
    assert one(ops, "SELECT count(*) FROM customers WHERE owner_id IS NULL") == 0
    assert one(ops, "SELECT count(*) FROM customers WHERE last_visit_on IS NULL") >= 10
    assert one(ops, """SELECT count(*) FROM customers c JOIN customer_tiers t ON t.id = c.tier_id
        WHERE c.last_visit_on < date(?, '-' || t.follow_up_days || ' days')""", today) >= 20
    assert one(ops, "SELECT count(*) FROM customers WHERE last_visit_on > ?", today) == 0
    assert one(ops, "SELECT count(*) FROM customers WHERE total_spend != round(total_spend, 2)") == 0


def test_confidentiality_agreements(filled):
    _, _, ops, hr = filled
    today = TODAY.isoformat()
    assert one(hr, "SELECT count(*) FROM confidentiality_agreements") >= 60
    assert one(hr, "SELECT count(DISTINCT party_kind) FROM confidentiality_agreements") == 4
    employee_nos = {no for (no,) in ops.execute("SELECT employee_no FROM employees")}
    partner_names = {n for (n,) in ops.execute("SELECT name FROM partners")}
    for kind, column, known in (("员工", "employee_no", employee_nos), ("合作伙伴", "partner_name", partner_names)):
        values = [v for (v,) in hr.execute(
            f"SELECT {column} FROM confidentiality_agreements WHERE party_kind = ?", [kind])]
        assert values and set(values) <= known, kind
    assert xref.dangling(hr, ops, registers.load(), "hr", only_queued=False) == []
    assert one(hr, """SELECT count(*) FROM confidentiality_agreements
        WHERE status = '有效' AND expires_on BETWEEN ? AND date(?, '+30 days')""", today, today) >= 3
    assert one(hr, "SELECT count(*) FROM confidentiality_agreements WHERE status = '已到期' AND expires_on < ?",
               today) >= 2
    assert one(hr, "SELECT count(*) FROM confidentiality_agreements WHERE status = '有效' AND expires_on < ?",
               today) == 0
    assert one(hr, "SELECT count(*) FROM confidentiality_agreements WHERE status = '已终止'") >= 1
    assert one(hr, "SELECT count(*) FROM confidentiality_agreements WHERE expires_on IS NULL") >= 1


def test_meetings_and_actions(filled):
    _, _, ops, _ = filled
    today = TODAY.isoformat()
    assert one(ops, "SELECT count(*) FROM meetings") >= 50
    assert one(ops, "SELECT count(DISTINCT kind) FROM meetings") == 7
    assert one(ops, "SELECT count(DISTINCT partner_id) FROM meetings") == 3   # 合作会议 (运营区 §七(二)1)
    assert one(ops, """SELECT count(*) FROM meetings WHERE distributed_on < held_on OR distributed_on > ?
        OR starts_at NOT GLOB '[0-2][0-9]:[0-5][0-9]' OR attendees NOT LIKE '%、%'""", today) == 0
    for word in ("预算", "培训", "客户"):
        assert one(ops, "SELECT count(*) FROM meetings WHERE minutes LIKE ?", f"%{word}%") >= 1, word
    assert one(ops, """SELECT count(*) FROM meetings m
        WHERE NOT EXISTS (SELECT 1 FROM meeting_actions a WHERE a.meeting_id = m.id)""") == 0
    assert one(ops, """SELECT count(*) FROM meeting_actions
        WHERE due_on < ? AND status IN ('未开始', '进行中')""", today) >= 3
    assert one(ops, "SELECT count(*) FROM meeting_actions WHERE status = '已完成' AND done_on IS NOT NULL") >= 10
    assert one(ops, "SELECT count(*) FROM meeting_actions WHERE status = '已完成' AND done_on IS NULL") == 0
    assert one(ops, "SELECT count(*) FROM meeting_actions WHERE status = '已取消'") >= 1


def test_search_index_and_foreign_keys(filled):
    _, _, ops, hr = filled
    assert one(ops, "SELECT count(*) FROM _search_queue") == 0
    assert one(ops, "SELECT count(*) FROM customers_fts") == one(ops, "SELECT count(*) FROM customers")
    assert one(ops, "SELECT count(*) FROM meetings_fts") == one(ops, "SELECT count(*) FROM meetings")
    assert ops.execute("PRAGMA foreign_key_check").fetchall() == []
    assert hr.execute("PRAGMA foreign_key_check").fetchall() == []


def test_second_fill_inserts_nothing(filled):
    data_dir, _, ops, _ = filled
    before = one(ops, "SELECT count(*) FROM customers")
    assert set(demo.fill(data_dir, today=TODAY).values()) == {0}
    assert one(ops, "SELECT count(*) FROM customers") == before


def _snapshot(data_dir):
    conn = data_dir.connect("ops")
    try:
        cursor = conn.execute("SELECT * FROM customers ORDER BY id")
        names = [d[0] for d in cursor.description]
        keep = [i for i, n in enumerate(names) if n not in ("created_at", "updated_at")]
        return [tuple(row[i] for i in keep) for row in cursor]
    finally:
        conn.close()


def test_same_today_gives_identical_data(tmp_path):
    snapshots = []
    for name in ("a", "b"):
        data_dir = DataDir.resolve(tmp_path / name)
        init(data_dir)
        demo.fill(data_dir, today=TODAY)
        snapshots.append(_snapshot(data_dir))
    assert snapshots[0] == snapshots[1] and len(snapshots[0]) >= 500


def _employee(ops, no):
    row = ops.execute("""SELECT e.id, e.name, d.name, e.position FROM employees e
        JOIN departments d ON d.id = e.department_id WHERE e.employee_no = ?""", [no]).fetchone()
    return dict(zip(("id", "name", "dept", "position"), row))


def test_the_new_roles_logins_fit_their_roles(filled):
    _, _, ops, _ = filled
    accounts = {role: _employee(ops, no) for role, no in demo.DEMO_ACCOUNTS.items()}
    assert accounts["finance"]["dept"] == "财务部"
    assert accounts["employee"]["dept"] == "客户运营组"
    assert (accounts["leader"]["position"], accounts["leader"]["dept"]) == ("总经理", "总经理办公室")
    assert one(ops, "SELECT parent_id FROM departments WHERE name = '总经理办公室'") is None
    heads = dict(ops.execute("SELECT d.name, e.employee_no FROM departments d JOIN employees e ON e.id = d.manager_id"))
    # The printed list of department heads is the data's: demo-manager heads 客户运营组, the employee's group.
    assert demo.account_heads() == {role: accounts[role]["dept"] for role, no in demo.DEMO_ACCOUNTS.items()
                                    if heads.get(accounts[role]["dept"]) == no}
    assert demo.account_heads()["manager"] == "客户运营组"
    assert "employee" not in demo.account_heads() and "finance" not in demo.account_heads()


class Timeline:
    """Replays a register's audit log and checks each step against db/registers.yml: a row
    inserted in an initial state by someone create_by allows, every state change a transition
    the writer may take (with its comment), other changes only in edit states by edit.by. The
    writer is told by the log's actor: a demo login, or 姓名（工号）."""

    def __init__(self, ops):
        self.ops = ops
        self.definition = registers.load()
        self.no_of_login = {f"demo-{role}": no for role, no in demo.DEMO_ACCOUNTS.items()}
        self.heads = dict(ops.execute("SELECT id, manager_id FROM departments"))
        self.parent = dict(ops.execute("SELECT id, parent_id FROM departments"))
        self.dept_of = dict(ops.execute("SELECT id, department_id FROM employees"))

    def writer(self, actor: str, role: str) -> tuple[int, set[str]]:
        no = self.no_of_login.get(actor) or re.fullmatch(r".+（(\d{5})）", actor)[1]
        employee = one(self.ops, "SELECT id FROM employees WHERE employee_no = ?", no)
        roles = {role} | ({"department_head"} if employee in self.heads.values() else set())
        return employee, roles

    def head_for(self, owner: int) -> int | None:
        dept = self.dept_of.get(owner)
        while dept is not None:
            if self.heads.get(dept) not in (None, owner):
                return self.heads[dept]
            dept = self.parent.get(dept)
        return None

    def allowed(self, people, reg, row: dict, employee: int, roles: set[str]) -> bool:
        for word in people:
            if word == "owner" and row.get(reg.owner) == employee:
                return True
            if word == "department_head" and self.head_for(row.get(reg.owner)) == employee:
                return True
            if word in reg.columns and row.get(word) == employee:
                return True
            if word in self.definition.roles and word != "department_head" and word in roles:
                return True
        return False

    def problems(self, table: str) -> list[str]:
        reg = self.definition.registers[table]
        flow, found = reg.workflow, []
        log = self.ops.execute("SELECT actor, role, note, operation, before, after, row_id FROM _audit_log"
                               " WHERE table_name = ? ORDER BY id", [table]).fetchall()
        for actor, role, note, operation, before, after, row_id in log:
            employee, roles = self.writer(actor, role)
            old, new = json.loads(before or "{}"), json.loads(after or "{}")
            where = f"{table} {row_id} by {actor}"
            if operation == "insert":
                if new["status"] not in flow.initial or not self.allowed(flow.create_by, reg, new, employee, roles):
                    found.append(f"{where}: inserted as {new['status']}")
                continue
            # A blank column a transition fills (sets:) is filled with it, or right after it.
            fills = {c for t in flow.transitions for c, _ in t.sets
                     if old.get(c) is None and t.target in (old["status"], new["status"])}
            others = [c for c in reg.columns if c != flow.column and old.get(c) != new.get(c) and c not in fills]
            if others and (old["status"] not in flow.edit_states or not self.allowed(flow.edit_by, reg, old, employee, roles)):
                found.append(f"{where}: edited {others} in {old['status']}")
            if old["status"] != new["status"]:
                if others:
                    found.append(f"{where}: a transition that changes {others} too")
                moves = [t for t in flow.transitions if (t.source, t.target) == (old["status"], new["status"])
                         and self.allowed(t.by, reg, old, employee, roles)
                         and (t.when is None or one(self.ops, f"SELECT {t.when.sql} FROM {table} WHERE id = ?", row_id))]
                if not moves:
                    found.append(f"{where}: {old['status']} -> {new['status']} not allowed")
                elif any(t.comment for t in moves) and not note:
                    found.append(f"{where}: {moves[0].action} without a comment")
        return found


@pytest.mark.parametrize("table", [r.name for r in registers.load().registers.values() if r.workflow])
def test_workflow_rows_were_moved_by_the_people_the_definition_names(filled, table):
    _, _, ops, _ = filled
    assert Timeline(ops).problems(table) == []
    # Every state of the process is where some row is now.
    reached = {s for (s,) in ops.execute(f"SELECT DISTINCT status FROM {table}")}
    assert set(registers.load().registers[table].workflow.states) == reached
    assert one(ops, "SELECT count(*) FROM _audit_log WHERE table_name = ? AND operation = 'insert'", table) == \
        one(ops, f"SELECT count(*) FROM {table}")


def test_processes_have_overdue_items_for_the_reminders(filled):
    _, _, ops, _ = filled
    today = TODAY.isoformat()
    employee = _employee(ops, demo.DEMO_ACCOUNTS["employee"])["id"]
    assert one(ops, "SELECT count(*) FROM tasks WHERE due_on < ? AND status IN ('待接收', '进行中', '已退回')", today) >= 3
    assert one(ops, "SELECT count(*) FROM tasks WHERE assignee_id = ? AND due_on < ? AND status = '进行中'",
               employee, today) >= 1
    assert one(ops, """SELECT count(*) FROM customer_feedback WHERE reply_due_at < ? || ' 00:00'
        AND status IN ('已登记', '已分派', '处理中')""", today) >= 2
    assert one(ops, "SELECT count(*) FROM rectifications WHERE deadline < ? AND status IN ('待整改', '整改中')", today) >= 1
    manager = _employee(ops, demo.DEMO_ACCOUNTS["manager"])["id"]
    # demo-manager heads 客户运营组: requests of her group wait for her approval
    waiting = one(ops, """SELECT count(*) FROM leave_requests l JOIN employees e ON e.id = l.applicant_id
        JOIN departments d ON d.id = e.department_id WHERE d.manager_id = ? AND l.status = '已提交'""", manager)
    assert waiting >= 2
    assert one(ops, "SELECT count(*) FROM leave_requests WHERE status = '部门已审核'") >= 1   # for demo-leader
    assert one(ops, "SELECT count(*) FROM expense_claims WHERE status = '财务已审核' AND amount > 5000") >= 1


def test_process_values_are_well_formed(filled):
    _, _, ops, _ = filled
    assert one(ops, "SELECT count(*) FROM task_updates WHERE reported_at NOT GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]'") == 0
    assert one(ops, "SELECT count(*) FROM task_updates u JOIN tasks t ON t.id = u.task_id WHERE u.reporter_id != t.assignee_id") == 0
    assert one(ops, "SELECT count(*) FROM task_updates WHERE substr(reported_at, 1, 10) >= ?", TODAY.isoformat()) == 0
    assert one(ops, "SELECT count(*) FROM tasks WHERE parent_id IS NOT NULL") >= 5
    assert one(ops, "SELECT count(*) FROM customer_feedback WHERE reply_due_at <= received_at") == 0
    assert one(ops, "SELECT count(*) FROM customer_feedback WHERE replied_at IS NOT NULL AND replied_at < received_at") == 0
    assert one(ops, "SELECT count(*) FROM expense_claims WHERE claim_no NOT GLOB 'BX-[0-9][0-9][0-9][0-9][0-9][0-9]-[0-9][0-9][0-9]'") == 0


def test_customers_last_visit_is_their_newest_visit(filled):
    _, counts, ops, _ = filled
    assert counts["customer_visits"] >= 300
    assert one(ops, """SELECT count(*) FROM customers c
        WHERE c.last_visit_on IS NOT (SELECT max(visited_on) FROM customer_visits v WHERE v.customer_id = c.id)""") == 0
    assert one(ops, """SELECT count(*) FROM customer_visits v JOIN customers c ON c.id = v.customer_id
        WHERE v.visitor_id IS NOT c.owner_id""") == 0


def test_a_failed_rectification_ends_the_cooperation(filled):
    _, _, ops, _ = filled
    assert one(ops, """SELECT count(*) FROM rectifications r JOIN partners p ON p.id = r.partner_id
        WHERE r.status = '已终止合作' AND p.status = '已终止'""") == 1
