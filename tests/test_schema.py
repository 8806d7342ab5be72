"""The data spec, checked against real database files: every table and column exists with its
type, NOT NULL, UNIQUE and enum rule; bad rows sent through the JSON write API are refused
with a Chinese sentence; good rows are accepted."""

import sqlite3

import pytest

from taizhang.datadir import init
from tests.conftest import actor, backdate

pytestmark = pytest.mark.fast

# Written out from registers-spec.md, independently of db/registers.yml:
# column -> (SQL type, NOT NULL, UNIQUE)
SPEC = {
    "departments": {"name": ("TEXT", 1, 1), "parent_id": ("INTEGER", 0, 0), "manager_id": ("INTEGER", 0, 0), "notes": ("TEXT", 0, 0)},
    "employees": {"employee_no": ("TEXT", 1, 1), "name": ("TEXT", 1, 0), "department_id": ("INTEGER", 0, 0), "position": ("TEXT", 0, 0), "phone": ("TEXT", 0, 0), "email": ("TEXT", 0, 0), "hired_on": ("TEXT", 0, 0), "left_on": ("TEXT", 0, 0), "status": ("TEXT", 0, 0)},
    "partners": {"name": ("TEXT", 1, 1), "category": ("TEXT", 0, 0), "contact_person": ("TEXT", 0, 0), "phone": ("TEXT", 0, 0), "email": ("TEXT", 0, 0), "address": ("TEXT", 0, 0), "cooperation_mode": ("TEXT", 0, 0), "cooperation_projects": ("TEXT", 0, 0), "owner_id": ("INTEGER", 0, 0), "agreement_no": ("TEXT", 0, 0), "agreement_start": ("TEXT", 0, 0), "agreement_end": ("TEXT", 0, 0), "cooperating_since": ("TEXT", 0, 0), "status": ("TEXT", 0, 0), "notes": ("TEXT", 0, 0)},
    "partner_evaluations": {"partner_id": ("INTEGER", 1, 0), "period": ("TEXT", 1, 0), "performance_score": ("REAL", 0, 0), "service_score": ("REAL", 0, 0), "reputation_score": ("REAL", 0, 0), "total_score": ("REAL", 0, 0), "rating": ("TEXT", 0, 0), "decision": ("TEXT", 0, 0), "evaluator_id": ("INTEGER", 0, 0), "evaluated_on": ("TEXT", 0, 0), "comments": ("TEXT", 0, 0)},
    "training_sessions": {"title": ("TEXT", 1, 0), "kind": ("TEXT", 0, 0), "topic": ("TEXT", 0, 0), "trainer": ("TEXT", 0, 0), "provider": ("TEXT", 0, 0), "starts_on": ("TEXT", 0, 0), "ends_on": ("TEXT", 0, 0), "hours": ("REAL", 0, 0), "location": ("TEXT", 0, 0), "cost": ("REAL", 0, 0), "plan_year": ("INTEGER", 0, 0), "status": ("TEXT", 0, 0)},
    "training_records": {"employee_id": ("INTEGER", 1, 0), "session_id": ("INTEGER", 1, 0), "attendance": ("TEXT", 0, 0), "score": ("REAL", 0, 0), "passed": ("INTEGER", 0, 0), "certificate": ("TEXT", 0, 0), "feedback_rating": ("INTEGER", 0, 0), "feedback": ("TEXT", 0, 0)},
    "customer_tiers": {"name": ("TEXT", 1, 1), "rank": ("INTEGER", 0, 0), "criteria": ("TEXT", 0, 0), "min_annual_spend": ("REAL", 0, 0), "service_policy": ("TEXT", 0, 0), "follow_up_days": ("INTEGER", 0, 0)},
    "customers": {"customer_no": ("TEXT", 1, 1), "name": ("TEXT", 1, 0), "kind": ("TEXT", 0, 0), "tier_id": ("INTEGER", 0, 0), "contact_person": ("TEXT", 0, 0), "phone": ("TEXT", 0, 0), "email": ("TEXT", 0, 0), "address": ("TEXT", 0, 0), "source": ("TEXT", 0, 0), "owner_id": ("INTEGER", 0, 0), "first_purchase_on": ("TEXT", 0, 0), "last_purchase_on": ("TEXT", 0, 0), "total_spend": ("REAL", 0, 0), "preferences": ("TEXT", 0, 0), "churn_risk": ("TEXT", 0, 0), "last_visit_on": ("TEXT", 0, 0), "notes": ("TEXT", 0, 0)},
    "confidentiality_agreements": {"agreement_no": ("TEXT", 1, 1), "party_kind": ("TEXT", 0, 0), "party_name": ("TEXT", 1, 0), "employee_no": ("TEXT", 0, 0), "partner_name": ("TEXT", 0, 0), "signed_on": ("TEXT", 1, 0), "effective_on": ("TEXT", 0, 0), "expires_on": ("TEXT", 0, 0), "secrecy_level": ("TEXT", 0, 0), "scope": ("TEXT", 0, 0), "liability": ("TEXT", 0, 0), "document_ref": ("TEXT", 0, 0), "status": ("TEXT", 0, 0), "notes": ("TEXT", 0, 0)},
    "meetings": {"kind": ("TEXT", 0, 0), "title": ("TEXT", 1, 0), "held_on": ("TEXT", 1, 0), "starts_at": ("TEXT", 0, 0), "location": ("TEXT", 0, 0), "organizer_id": ("INTEGER", 0, 0), "recorder_id": ("INTEGER", 0, 0), "attendees": ("TEXT", 0, 0), "agenda": ("TEXT", 0, 0), "minutes": ("TEXT", 0, 0), "distributed_on": ("TEXT", 0, 0)},
    "meeting_actions": {"meeting_id": ("INTEGER", 1, 0), "item": ("TEXT", 1, 0), "owner_id": ("INTEGER", 0, 0), "due_on": ("TEXT", 0, 0), "status": ("TEXT", 0, 0), "done_on": ("TEXT", 0, 0), "notes": ("TEXT", 0, 0)},
}
SPEC_ENUMS = {
    ("employees", "status"): ["在职", "试用", "离职"],
    ("partners", "category"): ["供应商", "渠道", "媒体", "技术服务", "物流", "其他"],
    ("partners", "status"): ["合作中", "暂停", "已终止"],
    ("partner_evaluations", "rating"): ["优秀", "良好", "合格", "不合格"],
    ("partner_evaluations", "decision"): ["加大合作", "维持合作", "限期整改", "终止合作"],
    ("training_sessions", "kind"): ["入职培训", "内部培训", "外部培训", "在线学习", "专家讲座"],
    ("training_sessions", "status"): ["计划中", "已完成", "已取消"],
    ("training_records", "attendance"): ["已参加", "缺席", "请假"],
    ("customers", "kind"): ["个人", "企业"],
    ("customers", "churn_risk"): ["低", "中", "高"],
    ("confidentiality_agreements", "party_kind"): ["员工", "合作伙伴", "客户", "其他"],
    ("confidentiality_agreements", "secrecy_level"): ["内部", "秘密", "机密", "绝密"],
    ("confidentiality_agreements", "status"): ["有效", "已到期", "已终止"],
    ("meetings", "kind"): ["周会", "月会", "季度会", "年度会", "专项会议", "项目沟通会", "跨部门协调会"],
    ("meeting_actions", "status"): ["未开始", "进行中", "已完成", "已取消"],
}


def _columns(conn, table):
    return {row[1]: row for row in conn.execute(f"PRAGMA table_info({table})")}


def _unique_columns(conn, table):
    unique = set()
    for index in conn.execute(f"PRAGMA index_list({table})"):
        if index[2]:  # unique
            cols = [r[2] for r in conn.execute(f"PRAGMA index_info('{index[1]}')")]
            if len(cols) == 1:
                unique.add(cols[0])
    return unique


@pytest.mark.parametrize("table", SPEC)
def test_every_spec_table_and_column_exists(empty_data_dir, definition, table):
    database = "hr" if table == "confidentiality_agreements" else "ops"
    conn = empty_data_dir.connect(database)
    columns = _columns(conn, table)
    assert columns["id"][2] == "INTEGER" and columns["id"][5] == 1
    assert "AUTOINCREMENT" in conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
    for name in ("created_at", "updated_at"):
        assert name in columns
    unique = _unique_columns(conn, table)
    for name, (sql_type, not_null, is_unique) in SPEC[table].items():
        assert columns[name][2] == sql_type, name
        assert columns[name][3] == not_null, name
        assert (name in unique) == bool(is_unique), name
    # the confidential register lives only in hr.db, and nothing operational does
    other = empty_data_dir.connect("ops" if database == "hr" else "hr")
    assert not other.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [table]).fetchone()


@pytest.mark.parametrize("table,column", SPEC_ENUMS)
def test_enums_accept_exactly_the_spec_values(empty_data_dir, definition, table, column):
    reg = definition.registers[table]
    assert list(reg.columns[column].values) == SPEC_ENUMS[(table, column)]


def test_fks_natural_keys_and_wal(empty_data_dir):
    conn = empty_data_dir.connect("ops")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    fks = {(r[2], r[3]) for r in conn.execute("PRAGMA foreign_key_list(meeting_actions)")}
    assert ("meetings", "meeting_id") in fks
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute("INSERT INTO meetings (title, held_on) VALUES ('周会', '2024-01-01')")
        conn.execute("INSERT INTO meetings (title, held_on) VALUES ('周会', '2024-01-01')")


def test_updated_at_only_moves_on_real_change(empty_data_dir):
    conn = empty_data_dir.connect("ops")
    conn.execute("INSERT INTO partners (name) VALUES ('甲')")
    backdate(conn, "partners")
    conn.execute("UPDATE partners SET name = '甲'")
    assert conn.execute("SELECT updated_at FROM partners").fetchone()[0] == "2020-01-01T00:00:00Z"
    conn.execute("UPDATE partners SET notes = '改了'")
    assert conn.execute("SELECT updated_at FROM partners").fetchone()[0] > "2020-01-01T00:00:00Z"


def test_autoincrement_never_reuses_a_deleted_id(empty_data_dir):
    conn = empty_data_dir.connect("ops")
    conn.execute("INSERT INTO partners (name) VALUES ('甲')")
    conn.execute("INSERT INTO partners (name) VALUES ('乙')")
    conn.execute("DELETE FROM partners WHERE name = '乙'")
    conn.execute("INSERT INTO partners (name) VALUES ('丙')")
    assert conn.execute("SELECT id FROM partners WHERE name = '丙'").fetchone()[0] == 3


def test_evaluation_total_and_rating_are_derived(empty_data_dir):
    conn = empty_data_dir.connect("ops")
    conn.execute("INSERT INTO partners (name) VALUES ('甲')")
    conn.execute("INSERT INTO partner_evaluations (partner_id, period, performance_score, service_score, reputation_score) VALUES (1, '2024-Q1', 90, 80, 70)")
    conn.execute("INSERT INTO partner_evaluations (partner_id, period, performance_score, service_score, reputation_score, rating) VALUES (1, '2024-Q2', 50, 50, 50, '合格')")
    rows = conn.execute("SELECT period, total_score, rating FROM partner_evaluations ORDER BY period").fetchall()
    assert rows == [("2024-Q1", 80.0, "良好"), ("2024-Q2", 50.0, "合格")]  # a given rating is kept
    conn.execute("UPDATE partner_evaluations SET performance_score = 100, service_score = 95, reputation_score = 90 WHERE period = '2024-Q1'")
    assert conn.execute("SELECT total_score, rating FROM partner_evaluations WHERE period = '2024-Q1'").fetchone() == (95.0, "优秀")


# (register, row, the Chinese sentence the API must answer with)
BAD_ROWS = [
    ("employees", {"employee_no": "1", "name": "张三", "status": "在岗中"}, "状态必须是以下之一：在职、试用、离职（收到的值：状态「在岗中」）"),
    ("employees", {"employee_no": "1"}, "姓名为必填项"),
    ("employees", {"employee_no": "1", "name": "  "}, "姓名不能为空"),
    ("employees", {"employee_no": "1", "name": "张三", "hired_on": "2024-02-30"}, "入职日期必须是有效日期"),
    ("employees", {"employee_no": "1", "name": "张三", "hired_on": "2024/3/5"}, "入职日期必须是有效日期"),
    ("employees", {"employee_no": "1", "name": "张三", "hired_on": "2024-03-01", "left_on": "2024-01-01"}, "离职日期不能早于入职日期（收到的值：离职日期「2024-01-01」，入职日期「2024-03-01」）"),
    ("employees", {"employee_no": "1", "name": "张三", "email": "not-an-email"}, "邮箱格式不正确"),
    ("employees", {"employee_no": "1", "name": "张三", "department_id": 999}, "引用的记录不存在"),
    ("partners", {"name": "甲", "category": "坏类别"}, "类别必须是以下之一"),
    ("partners", {"name": "甲", "agreement_start": "2025-01-01", "agreement_end": "2024-12-31"}, "协议到期日期不能早于协议开始日期"),
    ("training_sessions", {"title": "课", "hours": "很多"}, "学时必须是数字"),
    ("training_sessions", {"title": "课", "plan_year": 1900}, "计划年度必须在 2000 到 2100 之间"),
    ("customer_tiers", {"name": "重要客户"}, "客户分层中已有层级名称相同的记录，层级名称不能重复（收到的值：层级名称「重要客户」）"),
    ("customer_tiers", {"name": "新层级", "follow_up_days": 0}, "回访周期（天）必须在 1 到 3650 之间"),
    ("meetings", {"title": "周会", "held_on": "2024-10-08", "starts_at": "25:00"}, "开始时间格式应为 HH:MM"),
    ("meetings", {"title": "周会"}, "会议日期为必填项"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("table,row,message", BAD_ROWS)
async def test_bad_rows_are_refused_in_chinese(empty_ds, table, row, message):
    response = await empty_ds.client.post(
        f"/ops/{table}/-/insert", json={"row": row}, actor=actor("admin"))
    assert response.status_code == 400, response.text
    assert any(message in e for e in response.json()["errors"]), response.json()


@pytest.mark.asyncio
async def test_bad_and_good_rows_in_every_register(empty_ds):
    admin = actor("admin")
    good = [
        ("ops", "departments", {"name": "运营部"}),
        ("ops", "employees", {"employee_no": "00012", "name": "张伟", "department_id": 1, "status": "在职",
                               "phone": "13800138000", "email": "zw@example.com", "hired_on": "2024-03-05"}),
        ("ops", "partners", {"name": "甲公司", "category": "供应商", "owner_id": 1, "status": "合作中"}),
        ("ops", "partner_evaluations", {"partner_id": 1, "period": "2024-Q3", "performance_score": 88}),
        ("ops", "training_sessions", {"title": "新员工入职培训", "starts_on": "2024-03-01", "ends_on": "2024-03-02", "hours": 8}),
        ("ops", "training_records", {"employee_id": 1, "session_id": 1, "attendance": "已参加", "passed": 1, "feedback_rating": 5}),
        ("ops", "customers", {"customer_no": "C0001", "name": "李四", "tier_id": 1, "churn_risk": "低"}),
        ("ops", "meetings", {"title": "运营周会", "held_on": "2024-10-08", "kind": "周会", "starts_at": "09:30"}),
        ("ops", "meeting_actions", {"meeting_id": 1, "item": "整理预算", "status": "未开始", "due_on": "2024-10-15"}),
        ("hr", "confidentiality_agreements", {"agreement_no": "BM-001", "party_kind": "员工", "party_name": "张伟",
                                               "employee_no": "00012", "signed_on": "2024-01-01"}),
    ]
    for database, table, row in good:
        response = await empty_ds.client.post(f"/{database}/{table}/-/insert", json={"row": row}, actor=admin)
        assert response.status_code == 201, (table, response.text)
    # the employee_no 00012 kept its leading zeros
    response = await empty_ds.client.get("/ops/employees.json?_shape=array", actor=admin)
    assert response.json()[0]["employee_no"] == "00012"


@pytest.mark.asyncio
@pytest.mark.parametrize("row,message", [
    ({"agreement_no": "BM-9", "party_kind": "员工", "party_name": "某人", "employee_no": "99999", "signed_on": "2024-01-01"},
     "员工工号「99999」在员工中不存在"),
    ({"agreement_no": "BM-9", "party_kind": "合作伙伴", "party_name": "某公司", "partner_name": "不存在的公司", "signed_on": "2024-01-01"},
     "合作伙伴「不存在的公司」在合作伙伴档案中不存在"),
    ({"agreement_no": "BM-9", "party_kind": "员工", "party_name": "某人", "signed_on": "2024-01-01"},
     "签署方类型为员工时，员工工号必填"),
    ({"agreement_no": "BM-9", "party_kind": "其他", "party_name": "某人", "signed_on": "2024-01-01",
      "effective_on": "2024-02-01", "expires_on": "2024-01-31"}, "到期日期不能早于生效日期"),
])
async def test_cross_file_references_are_checked_on_write(empty_ds, row, message):
    response = await empty_ds.client.post(
        "/hr/confidentiality_agreements/-/insert", json={"row": row}, actor=actor("hr"))
    assert response.status_code == 400
    assert any(message in e for e in response.json()["errors"]), response.json()
    rows = await empty_ds.client.get("/hr/confidentiality_agreements.json?_shape=array", actor=actor("hr"))
    assert rows.json() == []  # nothing half-written


# The spec's "accepted enum synonyms (at least)", written out independently of the definition.
SPEC_SYNONYMS = {
    ("employees", "status"): {"在职": ["在岗", "正式", "active"], "试用": ["试用期", "probation"], "离职": ["已离职", "left", "resigned"]},
    ("partners", "status"): {"合作中": ["合作", "正常", "active"], "暂停": ["暂停合作", "suspended"], "已终止": ["终止", "终止合作", "terminated"]},
    ("partners", "category"): {"供应商": ["supplier"], "渠道": ["channel", "渠道商"], "媒体": ["media"], "技术服务": ["技术", "technology"], "物流": ["logistics"], "其他": ["other"]},
    ("customers", "churn_risk"): {"低": ["低风险", "low"], "中": ["中风险", "medium"], "高": ["高风险", "high"]},
    ("meetings", "kind"): {"周会": ["周例会", "例会", "weekly"], "月会": ["月度会议", "月例会", "monthly"], "季度会": ["季度会议", "quarterly"], "年度会": ["年会", "年度会议", "annual"], "专项会议": ["专题会", "专项会"], "项目沟通会": ["项目会"], "跨部门协调会": ["协调会"]},
    ("training_records", "attendance"): {"已参加": ["参加", "出席", "是", "√", "attended"], "缺席": ["未参加", "absent"], "请假": ["事假", "病假"]},
    ("meeting_actions", "status"): {"未开始": ["待办"], "进行中": ["处理中", "执行中"], "已完成": ["完成", "done"], "已取消": ["取消"]},
    ("confidentiality_agreements", "status"): {"有效": ["生效", "valid"], "已到期": ["到期", "过期", "expired"], "已终止": ["终止"]},
    ("training_records", "passed"): {1: ["是", "√", "Y", "yes", "TRUE", "合格", "1"], 0: ["否", "×", "N", "no", "FALSE", "不合格", "0"]},
}
SYNONYM_CASES = [
    (table, column, word, canonical)
    for (table, column), mapping in SPEC_SYNONYMS.items()
    for canonical, words in mapping.items()
    for word in words
]


@pytest.mark.parametrize("table,column,word,canonical", SYNONYM_CASES)
def test_synonyms_are_stored_canonical_on_every_path(definition, table, column, word, canonical):
    """Through the database itself, so the API, forms, imports and a shell all agree."""
    from taizhang.chinese import to_traditional
    from taizhang import derived, schema

    database = definition.registers[table].database
    conn = sqlite3.connect(":memory:")
    schema.create_registers(conn, definition, database)
    derived.sync(conn, definition, database)
    required = {
        "employees": {"employee_no": "1", "name": "n"}, "partners": {"name": "n"},
        "customers": {"customer_no": "1", "name": "n"}, "meetings": {"title": "t", "held_on": "2024-01-01"},
        "confidentiality_agreements": {"agreement_no": "1", "party_name": "p", "signed_on": "2024-01-01"},
    }
    if database == "ops":
        conn.executescript(
            "INSERT INTO employees (id, employee_no, name) VALUES (99, '99', 'x');"
            "INSERT INTO training_sessions (id, title) VALUES (99, 't');"
            "INSERT INTO meetings (id, title, held_on) VALUES (99, 'm', '2000-01-01');")
        required |= {"training_records": {"employee_id": 99, "session_id": 99},
                     "meeting_actions": {"meeting_id": 99, "item": "i"}}
    for variant in {word, f"\u3000{word.upper()} ", to_traditional(word)}:
        row = {**required[table], column: variant}
        conn.execute(f"DELETE FROM {table} WHERE id <> 99")
        conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
        stored = conn.execute(f"SELECT {column} FROM {table} WHERE id <> 99").fetchone()[0]
        assert stored == canonical, variant


@pytest.mark.asyncio
async def test_synonyms_through_the_json_api(empty_ds):
    response = await empty_ds.client.post(
        "/ops/partners/-/insert", json={"row": {"name": "甲", "category": "Supplier", "status": "合作"}, "return": True},
        actor=actor("editor"))
    assert response.status_code == 201, response.text
    assert (response.json()["rows"][0]["category"], response.json()["rows"][0]["status"]) == ("供应商", "合作中")


@pytest.mark.asyncio
async def test_update_and_bulk_errors_quote_the_values(empty_ds):
    admin = actor("admin")
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, actor=admin)
    response = await empty_ds.client.post(
        "/ops/partners/1/-/update", json={"update": {"category": "乱写"}}, actor=admin)
    assert response.status_code == 400
    assert response.json()["errors"] == ["类别必须是以下之一：供应商、渠道、媒体、技术服务、物流、其他（收到的值：类别「乱写」）"]
    response = await empty_ds.client.post(
        "/ops/partners/-/insert", json={"rows": [{"name": "乙", "email": "a@b.cn"}, {"name": "丙", "email": "坏邮箱"}]}, actor=admin)
    assert response.status_code == 400
    assert "邮箱格式不正确" in response.json()["errors"][0] and "「坏邮箱」" in response.json()["errors"][0]
    rows = await empty_ds.client.get("/ops/partners.json?_shape=array", actor=admin)
    assert [r["name"] for r in rows.json()] == ["甲"]  # the bulk insert wrote nothing


def test_a_column_key_the_definition_does_not_know_is_refused():
    # An unquoted comma in a YAML flow mapping splits a help line into a second, bogus key.
    import yaml

    from taizhang import registers

    data = yaml.safe_load(registers.DEFINITION_PATH.read_text(encoding="utf-8"))
    data["registers"]["meetings"]["columns"]["attendees"] = yaml.safe_load(
        "{type: text, label: 参会人员, en: Attendees, help: 姓名以、，, ; 或换行分隔}")
    with pytest.raises(registers.DefinitionError, match="unknown keys"):
        registers.parse(data)


def test_a_file_from_before_a_register_existed_is_brought_up_to_date(empty_data_dir):
    """A data dir made by an older version: a register added since (tasks) is created with its
    triggers at the next init (a column added since comes by its migration, db/migrations.py);
    the rows already there stay, and a seed row someone deleted stays deleted."""
    conn = empty_data_dir.connect("ops")
    conn.execute("DROP TABLE tasks")   # as if made before issue 10
    conn.execute("DELETE FROM customer_tiers WHERE id = (SELECT max(id) FROM customer_tiers)")   # trusted shell
    tiers = conn.execute("SELECT count(*) FROM customer_tiers").fetchone()[0]
    conn.commit()
    report = init(empty_data_dir)
    assert "create tasks" in report["ops"]
    assert conn.execute("SELECT count(*) FROM customer_tiers").fetchone()[0] == tiers
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tasks'").fetchone()[0] > 5
    assert init(empty_data_dir) == {"ops": [], "hr": []}
    conn.close()
