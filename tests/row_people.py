"""People and rows for row-level access tests (tests/test_row_access.py, the sweep's canaries):
a department tree with heads, and rows of every register with rows: owned by each of them.

    运营部 (head 00001 周总)
    ├── 客户运营组 (head 00002 李组长)
    │   └── 客服小组 (no head of its own: 00002 heads it through 客户运营组)
    └── (00001's own rows)
    财务部 (head 00005 钱经理)

Rows whose text holds CANARY belong to someone neither the employee 00003 nor the head 00002
may see (00005 and 00006 in 财务部, and 00001 at the top): tests assert it never reaches them.
"""

from taizhang import audit

CANARY = "RowCanary7Qx"   # ASCII: found verbatim in HTML, CSV and \u-escaped JSON alike

DEPARTMENTS = [  # id, name, parent, manager employee id
    (1, "运营部", None, 1),
    (2, "客户运营组", 1, 2),
    (3, "客服小组", 2, None),
    (4, "财务部", None, 5),
]
EMPLOYEES = [  # id, 工号, name, department
    (1, "00001", "周总", 1),
    (2, "00002", "李组长", 2),
    (3, "00003", "王员工", 3),     # in the sub-department of 00002's
    (4, "00004", "赵同事", 2),
    (5, "00005", "钱经理", 4),
    (6, "00006", "孙会计", 4),
]
EMPLOYEE = {"id": "u-employee", "roles": ["employee"], "employee_no": "00003"}
HEAD = {"id": "u-head", "roles": ["employee", "department_head"], "employee_no": "00002"}
# Who each login may see, by employees.id, for rows whose owner is that employee.
SEES = {"employee": {3}, "head": {2, 3, 4}}


def _text(owner: int, what: str) -> str:
    """Text of a row owned by `owner`: the canary when neither test login may see it."""
    return f"{CANARY}-{what}-{owner}" if owner in (1, 5, 6) else f"{what}-{owner}"


# An administrator's write from the command line: not narrowed, and the workflow triggers see a
# writer (a plain connection's rows would be refused: processes are written through the app).
SEEDER = audit.Who(actor="seed", role="admin", source="cli", roles=("admin",))


def seed(data_dir) -> None:
    """Departments, employees and rows of tasks, task_updates, leave_requests, expense_claims,
    work_reports, appraisals and customer_feedback owned by every employee."""
    conn = data_dir.connect("ops")
    try:
        with audit.audited(conn, SEEDER, audit.key_from_secret(data_dir.secret())):
            _rows(conn)
    finally:
        conn.close()


def _rows(conn) -> None:
    for id_, no, name, _ in EMPLOYEES:
        conn.execute("INSERT INTO employees (id, employee_no, name, status) VALUES (?, ?, ?, '在职')", [id_, no, name])
    for id_, name, parent, manager in DEPARTMENTS:
        conn.execute("INSERT INTO departments (id, name, parent_id, manager_id) VALUES (?, ?, ?, ?)",
                     [id_, name, parent, manager])
    for id_, _, _, dept in EMPLOYEES:
        conn.execute("UPDATE employees SET department_id = ? WHERE id = ?", [dept, id_])
    for owner, *_ in EMPLOYEES:
        conn.execute(
            "INSERT INTO tasks (id, title, assigned_by_id, assignee_id, due_on, status) VALUES (?, ?, 5, ?, '2026-12-01', '待接收')",
            [owner, _text(owner, "task"), owner])
        conn.execute(
            "INSERT INTO task_updates (id, task_id, reported_at, reporter_id, content) VALUES (?, ?, '2026-11-20 09:00', ?, ?)",
            [owner, owner, owner, _text(owner, "update")])
        conn.execute(
            "INSERT INTO leave_requests (id, applicant_id, department_id, kind, starts_on, ends_on, days, reason, status)"
            " VALUES (?, ?, ?, '事假', '2026-12-01', '2026-12-01', 1, ?, '草稿')",
            [owner, owner, EMPLOYEES[owner - 1][3], _text(owner, "leave")])
        conn.execute(
            "INSERT INTO expense_claims (id, claim_no, applicant_id, category, amount, incurred_on, description, status)"
            " VALUES (?, ?, ?, '交通费', 10, '2026-11-01', ?, '草稿')",
            [owner, _text(owner, "claim"), owner, _text(owner, "claim")])
        conn.execute(
            "INSERT INTO work_reports (id, reporter_id, kind, period_start, title, status)"
            " VALUES (?, ?, '周报', '2026-11-16', ?, '草稿')",
            [owner, owner, _text(owner, "report")])
        conn.execute(
            "INSERT INTO appraisals (id, employee_id, period, title, superior_score, status)"
            " VALUES (?, ?, '2026-10', ?, 80, '待自评')",
            [owner, owner, _text(owner, "appraisal")])
        conn.execute(
            "INSERT INTO customer_feedback (id, feedback_no, received_at, kind, subject, handler_id, status)"
            " VALUES (?, ?, '2026-11-20 09:00', '投诉', ?, ?, '已登记')",
            # no canary: the head reads every feedback (department_head is not narrowed there)
            [owner, f"F{owner}", f"feedback-{owner}", owner])
