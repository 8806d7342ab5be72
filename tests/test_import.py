"""The Excel import (taizhang.importer): the sample registers load as they are, tables are found
in messy sheets, headers and cells are read the way people type them, references resolve, a run
writes all or nothing, re-imports change only what changed, batches can be undone, problems come
back as a workbook, and neither a kill -9 nor concurrent edits damage anything.

Workbooks are built in tmp_path with openpyxl (make_xlsx); the sample workbooks are the copies in
tests/samples. Stored values are read back from the SQLite files with sqlite3."""

import asyncio
import datetime
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from scripts.cli import cli
from taizhang.datadir import REPO, DataDir, init
from taizhang.importer import reading, writing
from taizhang.importer.batches import UndoRefused, list_batches, undo
from taizhang.importer.engine import ImportStopped, import_files
from taizhang.importer.report import write_report
from taizhang.registers import load
import tests.conftest
from tests.conftest import actor

pytestmark = pytest.mark.fast

SAMPLES = Path(__file__).parent / "samples"
DEFINITION = load()


# -- helpers -----------------------------------------------------------------------------------
class Formula(str):
    """A cell written as a formula (=…); any other text starting with = is written as text."""


def _fill(ws, rows) -> None:
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row, 1):
            if value is None or value == "":
                continue
            if isinstance(value, Formula):
                ws.cell(r, c, "=" + value)
            else:
                cell = ws.cell(r, c, value)
                if isinstance(value, str):
                    cell.data_type = "s"   # '=1+1', '+86 …' stay text, as when typed with a leading '


def make_xlsx(path, rows, sheet="Sheet1", formats=None, merges=None, hidden_sheets=None, sheets=None,
              epoch1904=False) -> Path:
    """A workbook as Excel would save it. rows: lists of cell values (None or "" = no cell);
    formats: {"A3": "00000"} number formats; merges: ["A1:C1"] (the top-left value is kept);
    sheets / hidden_sheets: {name: rows} further sheets; epoch1904: a Mac 1904 workbook."""
    wb = openpyxl.Workbook()
    if epoch1904:
        wb.epoch = CALENDAR_MAC_1904
    ws = wb.active
    ws.title = sheet
    _fill(ws, rows)
    for ref, number_format in (formats or {}).items():
        ws[ref].number_format = number_format
    for ref in merges or ():
        ws.merge_cells(ref)
    for name, more in (sheets or {}).items():
        _fill(wb.create_sheet(name), more)
    for name, more in (hidden_sheets or {}).items():
        hidden = wb.create_sheet(name)
        hidden.sheet_state = "hidden"
        _fill(hidden, more)
    wb.save(path)
    return Path(path)


def cache_formula_results(path, result: str) -> None:
    """Give every formula of the first sheet a cached result, as Excel does when it saves
    (openpyxl writes formulas without one)."""
    member = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(path) as zf:
        contents = {name: zf.read(name) for name in zf.namelist()}
    xml, n = re.subn(rb"(</f>)<v\s*/>", rb"\1<v>" + result.encode() + rb"</v>", contents[member])
    assert n, "no formula to give a result to"
    contents[member] = xml
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in contents.items():
            zf.writestr(name, data)


def query(data_dir, sql, *params, db="ops") -> list[tuple]:
    conn = sqlite3.connect(data_dir.database(db))
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def one(data_dir, sql, *params, db="ops"):
    found = query(data_dir, sql, *params, db=db)
    return found[0][0] if found else None


def table(data_dir, name, db="ops", without=()) -> dict[int, dict]:
    """A register's rows by id, every column (less `without`)."""
    conn = sqlite3.connect(data_dir.database(db))
    conn.row_factory = sqlite3.Row
    try:
        return {r["id"]: {k: r[k] for k in r.keys() if k not in without}
                for r in conn.execute(f'SELECT * FROM "{name}"')}
    finally:
        conn.close()


def audit_log(data_dir, db="ops") -> list[dict]:
    conn = sqlite3.connect(data_dir.database(db))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM _audit_log ORDER BY id")]
    finally:
        conn.close()


def snapshot(data_dir) -> dict:
    """Every register's rows and the audit log length, in both databases."""
    state = {}
    for reg in DEFINITION.registers.values():
        state[reg.name] = table(data_dir, reg.name, reg.database)
    for db in DEFINITION.databases:
        state[f"_audit_log@{db}"] = len(audit_log(data_dir, db))
    return state


def only_problem(run):
    assert not run.written
    assert len(run.problems) == 1, run.problems
    return run.problems[0]


DEPARTMENTS = [["部门名称", "上级部门"], ["运营部", ""], ["客户运营组", "运营部"]]
EMPLOYEES = [["工号", "姓名", "部门"], ["00003", "高欣怡", "客户运营组"], ["00012", "张伟", "运营部"],
             ["00047", "张伟", "客户运营组"], ["00019", "陳嘉欣", "运营部"]]


def load_staff(data_dir, folder) -> None:
    """Two departments and four people (two of them 张伟), from one workbook with two sheets."""
    path = make_xlsx(Path(folder) / "staff.xlsx", DEPARTMENTS, sheet="部门", sheets={"员工": EMPLOYEES})
    run = import_files(data_dir, [path], actor="setup")
    assert run.written and not run.problems, run.problems


def employee_id(data_dir, employee_no):
    return one(data_dir, "SELECT id FROM employees WHERE employee_no = ?", employee_no)


# -- 1. the sample workbooks ------------------------------------------------------------------
def readme():
    """The samples' README: its table of rows, header and footer, and its load order."""
    text = (SAMPLES / "README.md").read_text(encoding="utf-8")
    rows = {
        m[1]: {"rows": int(m[2]), "first": int(m[3]), "last": int(m[4]), "header": int(m[5]),
               "footer": None if m[6] == "–" else int(m[6])}
        for m in re.finditer(r"^\| (\w+)\.xlsx \| (\d+) \(rows (\d+)–(\d+)\) \| (\d+) \| (\d+|–) \|$", text, re.M)
    }
    order = [n.strip() for n in re.search(r"Load order \([^)]*\):(.*?)\.\s", text, re.S)[1].split("→")]
    return rows, order


SAMPLE_TABLE, LOAD_ORDER = readme()


def sample_rows(name) -> list[dict]:
    """The data rows of a sample, read independently of the importer (openpyxl), by header."""
    info = SAMPLE_TABLE[name]
    wb = openpyxl.load_workbook(SAMPLES / f"{name}.xlsx", read_only=True, data_only=True)
    try:
        rows = list(wb.worksheets[0].iter_rows(values_only=True))
    finally:
        wb.close()
    headers = rows[info["header"] - 1]
    return [dict(zip(headers, row)) for row in rows[info["first"] - 1: info["last"]]]


def _iso(value):
    return value.date().isoformat() if isinstance(value, datetime.datetime) else value


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """Every sample imported into an empty data dir: departments + employees in one run, then
    the others in the README's load order. -> (data_dir, {register: run})."""
    data_dir = DataDir.resolve(tmp_path_factory.mktemp("samples") / "data")
    init(data_dir)
    assert LOAD_ORDER[:2] == ["departments", "employees"] and len(LOAD_ORDER) == len(SAMPLE_TABLE) == 11
    first = import_files(data_dir, [SAMPLES / "departments.xlsx", SAMPLES / "employees.xlsx"], actor="tester")
    runs = {"departments": first, "employees": first}
    for name in LOAD_ORDER[2:]:
        runs[name] = import_files(data_dir, [SAMPLES / f"{name}.xlsx"], actor="tester")
    return data_dir, runs


def test_every_sample_imports_with_the_readme_row_counts(samples):
    data_dir, runs = samples
    for name, info in SAMPLE_TABLE.items():
        run = runs[name]
        assert run.written and run.problems == [], (name, run.problems[:3])
        reg = DEFINITION.registers[name]
        assert one(data_dir, f"SELECT count(*) FROM {name}", db=reg.database) == info["rows"], name
        plan = next(p for p in run.plans if p.register.name == name)
        assert plan.layout.header_row + 1 == info["header"]
        assert [r.row for r in plan.records] == list(range(info["first"], info["last"] + 1))
        if info["footer"]:
            assert any(f"第 {info['footer']} 行是表尾" in n for n in run.notices), run.notices
    assert runs["departments"].counts["departments"]["inserted"] == 20
    assert runs["employees"].counts["employees"]["inserted"] == 120
    # the three seeded tiers are updated, the three others added
    assert runs["customer_tiers"].counts["customer_tiers"] == {
        "inserted": 3, "updated": 3, "unchanged": 0, "rejected": 0, "deleted": 0}


def test_samples_stored_values(samples):
    data_dir, _ = samples
    # 工号 keeps its leading zeros; phones are text; dates ISO; traditional names stay traditional
    assert query(data_dir, "SELECT DISTINCT typeof(employee_no), length(employee_no) FROM employees") == [("text", 5)]
    assert query(data_dir, "SELECT DISTINCT typeof(phone) FROM employees") == [("text",)]
    assert query(data_dir, "SELECT name, phone, hired_on, status FROM employees WHERE employee_no = '00012'") == [
        ("张伟", "13257007087", "2018-05-25", "在职")]
    assert one(data_dir, "SELECT hired_on FROM employees WHERE employee_no = '00001'") == "2017-12-08"
    assert query(data_dir, "SELECT name, phone FROM employees WHERE employee_no = '00019'") == [("陳嘉欣", "+852 9123 4567")]
    for row in sample_rows("employees"):
        stored = query(data_dir, "SELECT e.name, d.name, e.hired_on, e.left_on, e.email FROM employees e "
                                 "LEFT JOIN departments d ON d.id = e.department_id WHERE e.employee_no = ?", row["工号"])
        assert stored == [(row["姓名"], row["部门"], _iso(row["入职日期"]), _iso(row["离职日期"]), row["电子邮箱"])], row


def test_samples_department_managers_resolve_by_name_or_by_employee_no(samples):
    data_dir, _ = samples
    # 前场服务组's 负责人 is written as 00012: one of the two 张伟
    assert query(data_dir, "SELECT e.employee_no, e.name FROM departments d JOIN employees e ON e.id = d.manager_id "
                           "WHERE d.name = '前场服务组'") == [("00012", "张伟")]
    for row in sample_rows("departments"):
        [(manager_no, manager_name, parent)] = query(
            data_dir, "SELECT m.employee_no, m.name, p.name FROM departments d LEFT JOIN employees m ON m.id = d.manager_id "
                      "LEFT JOIN departments p ON p.id = d.parent_id WHERE d.name = ?", row["部门名称"])
        assert row["负责人"] in (manager_no, manager_name) and parent == row["上级部门"], row


def test_samples_training_records_resolve_by_employee_no_and_by_course_and_date(samples):
    data_dir, _ = samples
    expected = sorted((r["工号"], r["姓名"], r["培训课程"], _iso(r["培训日期"]), r["是否合格"]) for r in sample_rows("training_records"))
    stored = query(data_dir, """
        SELECT e.employee_no, e.name, s.title, s.starts_on, CASE r.passed WHEN 1 THEN '是' WHEN 0 THEN '否' END
        FROM training_records r JOIN employees e ON e.id = r.employee_id JOIN training_sessions s ON s.id = r.session_id""")
    assert sorted(stored) == expected
    # the two 张伟 keep their own records
    assert ("00047", "张伟", "Python数据分析入门", "2024-07-17", "否") in stored
    assert ("00012", "张伟", "客户回访技巧与话术", "2024-04-17", "否") in stored


def test_samples_meeting_actions_customers_and_agreements(samples):
    data_dir, _ = samples
    expected = sorted((r["会议主题"], _iso(r["会议日期"]), r["决议事项"], _iso(r["完成日期"])) for r in sample_rows("meeting_actions"))
    assert sorted(query(data_dir, "SELECT m.title, m.held_on, a.item, a.done_on FROM meeting_actions a "
                                  "JOIN meetings m ON m.id = a.meeting_id")) == expected
    expected = sorted((r["客户编号"], r["客户层级"], float(r["累计消费（元）"])) for r in sample_rows("customers"))
    assert sorted(query(data_dir, "SELECT c.customer_no, t.name, c.total_spend FROM customers c "
                                  "JOIN customer_tiers t ON t.id = c.tier_id")) == expected
    open_ended = [r["协议编号"] for r in sample_rows("confidentiality_agreements") if r["到期日期"] is None]
    assert open_ended
    assert sorted(r[0] for r in query(data_dir, "SELECT agreement_no FROM confidentiality_agreements "
                                                "WHERE expires_on IS NULL", db="hr")) == sorted(open_ended)
    assert query(data_dir, "SELECT DISTINCT starts_at FROM meetings WHERE starts_at NOT GLOB '[0-2][0-9]:[0-5][0-9]'") == []


def test_samples_imported_again_change_nothing(samples):
    data_dir, _ = samples
    before = snapshot(data_dir)
    for name in ["departments", "employees", *LOAD_ORDER[2:]]:
        run = import_files(data_dir, [SAMPLES / f"{name}.xlsx"], actor="tester")
        assert run.problems == []
        counts = run.counts[name]
        assert (counts["inserted"], counts["updated"], counts["deleted"]) == (0, 0, 0), (name, counts)
        assert counts["unchanged"] == SAMPLE_TABLE[name]["rows"], (name, counts)
    assert snapshot(data_dir) == before   # every column, updated_at included; no new audit rows


# -- 2. finding the table ---------------------------------------------------------------------
def test_title_rows_two_row_header_footers_and_blank_rows(empty_data_dir, tmp_path):
    load_staff(empty_data_dir, tmp_path)
    rows = [
        ["华远文化传媒有限公司员工花名册", None, None, None, None],
        [],
        ["工号", "姓名", "基本信息", None, "联系方式"],   # 工号/姓名 merged down over two rows
        [None, None, "部门", "岗位", "联系电话"],
        ["00101", "赵一", "运营部", "专员", "13800000001"],
        [],
        ["00102", "钱二", "客户运营组", "专员", "13800000002"],
        [None, None, None, None, None],
        ["00103", "孙三", "运营部", "主管", "13800000003"],
        ["合计", "3 人", None, None, None],
        ["本表由人力资源部每月更新，离职人员请于次月删除，联系电话以员工本人提供为准，如有变动请及时告知。"],
        ["制表人：朱超\u3000\u3000审核：韩子涵\u3000\u3000日期：2025年1月5日"],
    ]
    path = make_xlsx(tmp_path / "花名册.xlsx", rows, merges=["A1:E1", "A3:A4", "B3:B4", "C3:D3"])
    run = import_files(empty_data_dir, [path])
    assert run.written and not run.problems, run.problems
    plan = run.plans[0]
    assert plan.register.name == "employees" and plan.layout.header_row == 3
    assert [r.row for r in plan.records] == [5, 7, 9]
    assert query(empty_data_dir, "SELECT e.employee_no, e.name, d.name, e.position, e.phone FROM employees e "
                                 "JOIN departments d ON d.id = e.department_id WHERE employee_no > '001' ORDER BY 1") == [
        ("00101", "赵一", "运营部", "专员", "13800000001"),
        ("00102", "钱二", "客户运营组", "专员", "13800000002"),
        ("00103", "孙三", "运营部", "主管", "13800000003"),
    ]
    assert sum("表尾" in n for n in run.notices) == 3, run.notices


def test_a_data_row_starting_with_a_footer_word_is_kept(empty_data_dir, tmp_path):
    """Departments called 审核部 or 审批中心 are data, not a 审核：… footer line."""
    path = make_xlsx(tmp_path / "部门.xlsx", [["部门名称", "备注"], ["审核部", "内审"], ["审批中心", ""],
                                             ["合计", "2 个部门"], ["审核：韩子涵"]])
    run = import_files(empty_data_dir, [path], register="departments")
    assert run.written
    assert sorted(r[0] for r in query(empty_data_dir, "SELECT name FROM departments")) == ["审批中心", "审核部"]


@pytest.mark.parametrize("copy_limit", [reading.REPORT_COPY_LIMIT, 0], ids=["kept for the report", "streamed"])
def test_merged_cells_in_a_data_column_fill_down(empty_data_dir, tmp_path, monkeypatch, copy_limit):
    monkeypatch.setattr(reading, "REPORT_COPY_LIMIT", copy_limit)   # 0: read as a large sheet is
    load_staff(empty_data_dir, tmp_path)
    rows = [["工号", "姓名", "部门"], ["00201", "甲", "客户运营组"], ["00202", "乙", None], ["00203", "丙", None],
            ["00204", "丁", "运营部"]]
    path = make_xlsx(tmp_path / "员工.xlsx", rows, merges=["C2:C4"])
    run = import_files(empty_data_dir, [path])
    assert run.written
    assert query(empty_data_dir, "SELECT e.employee_no, d.name FROM employees e JOIN departments d ON d.id = e.department_id "
                                 "WHERE employee_no LIKE '002%' ORDER BY 1") == [
        ("00201", "客户运营组"), ("00202", "客户运营组"), ("00203", "客户运营组"), ("00204", "运营部")]


def test_a_large_sheet_is_streamed_not_copied(empty_data_dir, tmp_path, monkeypatch):
    """Over REPORT_COPY_LIMIT rows the sheet is read row by row and not kept; the records are
    those of a sheet read whole (rows, values, problems, footers)."""
    rows = [["合作伙伴名称", "类别", "开始合作日期", "对接负责人", "备注"], *(
        [f"伙伴{i:02d}", "媒体", "2024年3月5日" if i % 2 else "2024-02-30", "张伟" if i == 1 else None, f"第{i}行"]
        for i in range(1, 9)), ["合计", "8 家"]]
    path = make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名册"], [], *rows], merges=["A1:E1"])
    whole = import_files(empty_data_dir, [path], register="partners", dry_run=True)
    monkeypatch.setattr(reading, "REPORT_COPY_LIMIT", 5)
    streamed = import_files(empty_data_dir, [path], register="partners", dry_run=True)
    assert len(whole.plans[0].rows) == 12 and streamed.plans[0].rows == []
    assert [(r.row, r.values, r.refs, r.ok) for r in streamed.plans[0].records] == \
        [(r.row, r.values, r.refs, r.ok) for r in whole.plans[0].records]
    assert [(r.row, r.values["cooperating_since"]) for r in streamed.plans[0].records if r.ok] == \
        [(6, "2024-03-05"), (8, "2024-03-05"), (10, "2024-03-05")]
    assert streamed.plans[0].records[0].refs == (("owner_id", "_direct", "张伟"),)
    # a value that fails fails on every row it is on, however often it repeats
    assert [(p.row, p.column) for p in streamed.problems] == \
        [(row, "开始合作日期") for row in (5, 7, 9, 11)] + [(4, "对接负责人")]
    assert streamed.problems == whole.problems and streamed.notices == whole.notices


def test_the_search_index_is_filled_as_rows_are_written(empty_data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(writing, "DRAIN_EVERY", writing.CHUNK)
    drained = []
    monkeypatch.setattr(writing.search, "drain", lambda conn, d, drain=writing.search.drain: drained.append(drain(conn, d)))
    n = writing.CHUNK * 2 + 7
    path = make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别"], *([f"索引伙伴{i:04d}", "媒体"] for i in range(n))])
    run = import_files(empty_data_dir, [path])
    assert run.written and run.counts["partners"]["inserted"] == n
    assert drained[:2] == [writing.CHUNK, writing.CHUNK] and sum(drained) == n
    assert one(empty_data_dir, "SELECT count(*) FROM _search_queue") == 0
    assert one(empty_data_dir, "SELECT count(*) FROM partners_fts") == n


def test_a_hidden_sheet_is_ignored_unless_named(empty_data_dir, tmp_path):
    path = make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别"], ["可见公司", "媒体"]],
                     hidden_sheets={"旧表": [["合作伙伴名称", "类别"], ["隐藏公司", "物流"]]})
    run = import_files(empty_data_dir, [path])
    assert [p.sheet for p in run.plans] == ["Sheet1"]
    assert query(empty_data_dir, "SELECT name, category FROM partners") == [("可见公司", "媒体")]
    run = import_files(empty_data_dir, [path], sheet="旧表")
    assert [p.sheet for p in run.plans] == ["旧表"]
    assert sorted(query(empty_data_dir, "SELECT name, category FROM partners")) == [("可见公司", "媒体"), ("隐藏公司", "物流")]
    with pytest.raises(ImportStopped, match="没有名为「别的」的工作表"):
        import_files(empty_data_dir, [path], sheet="别的")


def test_two_sheets_for_two_registers_in_one_workbook(empty_data_dir, tmp_path):
    path = make_xlsx(tmp_path / "组织.xlsx", [["部门名称", "上级部门", "负责人"], ["运营部", "", "张三"]], sheet="部门",
                     sheets={"人员": [["工号", "姓名", "部门"], ["00001", "张三", "运营部"]]})
    run = import_files(empty_data_dir, [path])
    assert run.written
    assert [(p.sheet, p.register.name) for p in run.plans] == [("部门", "departments"), ("人员", "employees")]
    assert query(empty_data_dir, "SELECT d.name, e.employee_no FROM departments d JOIN employees e ON e.id = d.manager_id "
                                 "AND e.department_id = d.id") == [("运营部", "00001")]


@pytest.mark.parametrize("headers, row, register", [
    (["客户编号", "客户名称", "客户类型"], ["KH1", "某客户", "个人"], "customers"),
    (["合作伙伴名称", "类别", "联系人"], ["某公司", "媒体", "王"], "partners"),
    (["会议主题", "会议日期", "开始时间"], ["周会", "2024-10-08", "9:30"], "meetings"),
    (["协议编号", "签署方", "签订日期"], ["BM-1", "某人", "2024-01-01"], "confidentiality_agreements"),
    (["课程名称", "开始日期", "学时"], ["入职培训", "2024-03-01", 4], "training_sessions"),
    (["层级名称", "排序", "回访周期（天）"], ["钻石客户", 1, "15天"], "customer_tiers"),
])
def test_the_register_is_detected_from_the_headers(empty_data_dir, tmp_path, headers, row, register):
    path = make_xlsx(tmp_path / "无名.xlsx", [["一张表"], [], headers, row])
    run = import_files(empty_data_dir, [path], dry_run=True)
    assert [p.register.name for p in run.plans] == [register]
    assert not run.problems and not run.written


def test_a_sheet_that_is_no_register_stops_the_run(empty_data_dir, tmp_path):
    path = make_xlsx(tmp_path / "杂.xlsx", [["天气", "心情"], ["晴", "好"]])
    with pytest.raises(ImportStopped, match="找不到台账的表头"):
        import_files(empty_data_dir, [path])


# -- 3. matching columns ----------------------------------------------------------------------
@pytest.mark.parametrize("header, cell, column, stored", [
    ("聯繫電話", "13800000001", "phone", "13800000001"),            # 繁體
    ("联 系\u3000电 话", "13800000001", "phone", "13800000001"),      # spaces and U+3000 inside
    ("联系电话（手机）", "13800000001", "phone", "13800000001"),      # a note in full-width brackets
    ("联系电话(手机)", "13800000001", "phone", "13800000001"),        # … and half-width
    ("Phone", "13800000001", "phone", "13800000001"),                # the English label
    ("phone", "13800000001", "phone", "13800000001"),                # the column name
    ("手机号码", "13800000001", "phone", "13800000001"),              # a header synonym
    ("Hired on", "2024-03-05", "hired_on", "2024-03-05"),
    ("入職日期", "2024-03-05", "hired_on", "2024-03-05"),
    ("在职状态", "在岗", "status", "在职"),
])
def test_header_variants(empty_data_dir, tmp_path, header, cell, column, stored):
    path = make_xlsx(tmp_path / "员工.xlsx", [["工号", header, "姓名"], ["00001", cell, "张三"]])
    run = import_files(empty_data_dir, [path], register="employees")
    assert run.written, run.problems
    assert one(empty_data_dir, f"SELECT {column} FROM employees WHERE employee_no = '00001'") == stored


@pytest.mark.parametrize("header, cell, stored, scaled", [
    ("费用（元）", 1200, 1200.0, False),
    ("费用(元)", "¥1,200.00", 1200.0, False),
    ("费用", 1200, 1200.0, False),
    ("培训费用（万元）", 1.5, 15000.0, True),
    ("费用(万元)", "0.12", 1200.0, True),
])
def test_a_unit_in_the_header_scales_money(empty_data_dir, tmp_path, header, cell, stored, scaled):
    path = make_xlsx(tmp_path / "培训.xlsx", [["课程名称", "开始日期", header], ["沟通技巧", "2024-05-06", cell]])
    run = import_files(empty_data_dir, [path])
    assert run.written and run.plans[0].register.name == "training_sessions"
    assert one(empty_data_dir, "SELECT cost FROM training_sessions") == stored
    assert any("乘以 10000" in n and header in n for n in run.notices) == scaled, run.notices


@pytest.mark.parametrize("row_number", ["序号", "編號", "No.", "#"])
def test_any_column_order_and_the_row_number_column_skipped(empty_data_dir, tmp_path, row_number):
    rows = [["邮箱", "姓名", row_number, "联系电话", "工号"],
            ["a@example.com", "张三", 1, "13800000001", "00001"],
            ["b@example.com", "李四", 2, "13800000002", "00002"]]
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "员工.xlsx", rows)])
    assert run.written and not run.problems
    assert query(empty_data_dir, "SELECT employee_no, name, phone, email FROM employees ORDER BY 1") == [
        ("00001", "张三", "13800000001", "a@example.com"), ("00002", "李四", "13800000002", "b@example.com")]


UNKNOWN = [["工号", "姓名", "微信号"], ["00001", "张三", "zs001"]]


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_an_unknown_column_stops_the_run(empty_data_dir, tmp_path, skip_invalid):
    before = snapshot(empty_data_dir)
    with pytest.raises(ImportStopped) as info:
        import_files(empty_data_dir, [make_xlsx(tmp_path / "员工.xlsx", UNKNOWN)], register="employees",
                     skip_invalid=skip_invalid)
    message = str(info.value)
    assert "“微信号”" in message and "什么都没有写入" in message and "--map" in message and "--ignore" in message
    assert snapshot(empty_data_dir) == before


def test_an_unknown_column_mapped_or_ignored(empty_data_dir, tmp_path):
    path = make_xlsx(tmp_path / "员工.xlsx", UNKNOWN)
    run = import_files(empty_data_dir, [path], register="employees", mapping={"微信号": "position"})
    assert run.written
    assert query(empty_data_dir, "SELECT name, position FROM employees") == [("张三", "zs001")]
    run = import_files(empty_data_dir, [path], register="employees", ignore={"微信号", "不存在的列"})
    assert run.written and run.counts["employees"]["unchanged"] == 1
    assert any("忽略“微信号”" in n for n in run.notices)
    with pytest.raises(ImportStopped, match="--map 指定的列 nope"):
        import_files(empty_data_dir, [path], register="employees", mapping={"微信号": "nope"})


@pytest.mark.parametrize("skip_invalid", [False, True])
def test_a_missing_required_column_stops_the_run(empty_data_dir, tmp_path, skip_invalid):
    path = make_xlsx(tmp_path / "员工.xlsx", [["工号", "联系电话"], ["00001", "13800000001"]])
    before = snapshot(empty_data_dir)
    with pytest.raises(ImportStopped, match="缺少必填的列：姓名"):
        import_files(empty_data_dir, [path], register="employees", skip_invalid=skip_invalid)
    assert snapshot(empty_data_dir) == before


# -- 4. values --------------------------------------------------------------------------------
class Rejected(str):
    """The row is rejected; the problem's reason contains this."""


# register: (database, the headers before the tested one, their cells for key k, SQL reading {c} of key k)
SHAPES = {
    "employees": ("ops", ["工号", "姓名"], lambda k: [k, "测试员"], "SELECT {c} FROM employees WHERE employee_no = ?"),
    "partners": ("ops", ["合作伙伴名称"], lambda k: [k], "SELECT {c} FROM partners WHERE name = ?"),
    "training_sessions": ("ops", ["课程名称", "开始日期"], lambda k: [k, "2024-01-01"],
                          "SELECT {c} FROM training_sessions WHERE title = ?"),
    "customer_tiers": ("ops", ["层级名称"], lambda k: [k], "SELECT {c} FROM customer_tiers WHERE name = ?"),
    "customers": ("ops", ["客户编号", "客户名称"], lambda k: [k, "客户"], "SELECT {c} FROM customers WHERE customer_no = ?"),
    "confidentiality_agreements": ("hr", ["协议编号", "签署方", "签订日期"], lambda k: [k, "某人", "2020-01-01"],
                                   "SELECT {c} FROM confidentiality_agreements WHERE agreement_no = ?"),
    "meetings": ("ops", ["会议主题", "会议日期"], lambda k: [k, "2024-10-08"], "SELECT {c} FROM meetings WHERE title = ?"),
    "partner_evaluations": ("ops", ["合作伙伴"], lambda k: [k], "SELECT e.{c} FROM partner_evaluations e "
                            "JOIN partners p ON p.id = e.partner_id WHERE p.name = ?"),
    "training_records": ("ops", ["工号", "培训课程", "培训日期"], lambda k: [k, "值测试课", "2024-01-01"],
                         "SELECT r.{c} FROM training_records r JOIN employees e ON e.id = r.employee_id "
                         "WHERE e.employee_no = ?"),
}
D = datetime.date
NOT_A_DATE = Rejected("无法识别的日期")
NOT_A_NUMBER = Rejected("应为数字")
# register, header, column, cell, stored (or Rejected), options
VALUE_CASES = [
    # dates
    ("employees", "入职日期", "hired_on", D(2024, 3, 5), "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", datetime.datetime(2024, 3, 5, 14, 30), "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", 45356, "2024-03-05", {}),                          # a serial, 1900 workbook
    ("employees", "入职日期", "hired_on", 45356.75, "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", 43894, "2024-03-05", {"epoch1904": True}),         # a serial, 1904 workbook
    ("employees", "入职日期", "hired_on", D(2024, 3, 5), "2024-03-05", {"epoch1904": True}),
    ("employees", "入职日期", "hired_on", "2024年3月5日", "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", "2024/3/5", "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", "2024.03.05", "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", "20240305", "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", 20240305, "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", "2024-3-5", "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", "２０２４－０３－０５", "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", "\u3000 2024-03-05 14:30\u00a0", "2024-03-05", {}),
    ("employees", "入职日期", "hired_on", "2024-02-30", Rejected("日期不存在：2024-02-30"), {}),
    ("employees", "入职日期", "hired_on", "下周一", NOT_A_DATE, {}),
    ("employees", "入职日期", "hired_on", "长期", NOT_A_DATE, {}),                            # only where open-ended
    ("confidentiality_agreements", "到期日期", "expires_on", "长期", None, {}),
    ("confidentiality_agreements", "到期日期", "expires_on", "长期有效", None, {}),
    ("confidentiality_agreements", "到期日期", "expires_on", "", None, {}),
    ("confidentiality_agreements", "到期日期", "expires_on", "2027年1月1日", "2027-01-01", {}),
    # periods, times
    ("partner_evaluations", "评估期间", "period", "2024Q2", "2024-Q2", {}),
    ("partner_evaluations", "评估期间", "period", "2024年第3季度", "2024-Q3", {}),
    ("partner_evaluations", "评估期间", "period", "2024年度", "2024", {}),
    ("partner_evaluations", "评估期间", "period", "2024年第一季度", "2024-Q1", {}),
    ("partner_evaluations", "评估期间", "period", 2023, "2023", {}),
    ("partner_evaluations", "评估期间", "period", "2024年5月", "2024-05", {}),
    ("partner_evaluations", "评估期间", "period", "2024Q5", Rejected("无法识别的评估期间"), {}),
    ("meetings", "开始时间", "starts_at", "9:30", "09:30", {}),
    ("meetings", "开始时间", "starts_at", "14：00", "14:00", {}),
    ("meetings", "开始时间", "starts_at", datetime.time(9, 30), "09:30", {}),
    ("meetings", "开始时间", "starts_at", "9点30分", "09:30", {}),
    ("meetings", "开始时间", "starts_at", "25:00", Rejected("无法识别的时间"), {}),
    # money and numbers
    ("customers", "累计消费（元）", "total_spend", "¥1,200.00", 1200.0, {}),
    ("customers", "累计消费（元）", "total_spend", "1200元", 1200.0, {}),
    ("customers", "累计消费（元）", "total_spend", "1.2万", 12000.0, {}),
    ("customers", "累计消费（元）", "total_spend", "￥3,000", 3000.0, {}),
    ("customers", "累计消费（元）", "total_spend", 1200, 1200.0, {}),
    ("customers", "累计消费（元）", "total_spend", "一千二", NOT_A_NUMBER, {}),
    ("training_sessions", "计划年度", "plan_year", "2023年", 2023, {}),
    ("training_sessions", "计划年度", "plan_year", 2024, 2024, {}),
    ("customer_tiers", "回访周期（天）", "follow_up_days", "30天", 30, {}),
    ("customer_tiers", "回访周期（天）", "follow_up_days", "30.5天", Rejected("应为整数"), {}),
    # numbers in text columns, contacts
    ("employees", "联系电话", "phone", 13800138000, "13800138000", {}),
    ("employees", "联系电话", "phone", "１３８００１３８０００", "13800138000", {}),
    ("employees", "联系电话", "phone", "\u3000138-0013-8000\u00a0", "138-0013-8000", {}),
    ("employees", "邮箱", "email", "zhang＠example.com", "zhang@example.com", {}),
    ("employees", "邮箱", "email", " zhang@example.com\u3000", "zhang@example.com", {}),
    ("employees", "岗位", "position", 12, "12", {}),
    # free text exactly as typed (trimmed)
    ("employees", "岗位", "position", "\u3000運營經理 \u00a0", "運營經理", {}),
    ("partners", "备注", "notes", "合作歷史：2019年起，服務穩定", "合作歷史：2019年起，服務穩定", {}),
    ("partners", "备注", "notes", "第一行\n第二行", "第一行\n第二行", {}),
    ("partners", "地址", "address", "中山路１２号", "中山路１２号", {}),
    ("partners", "备注", "notes", "=1+1", "=1+1", {}),
    ("partners", "备注", "notes", "+86 138", "+86 138", {}),
    ("partners", "备注", "notes", "-5%", "-5%", {}),
    ("partners", "备注", "notes", "@所有人 请注意", "@所有人 请注意", {}),
    # enums
    ("employees", "状态", "status", "在岗", "在职", {}),
    ("employees", "状态", "status", "已離職", "离职", {}),
    ("employees", "状态", "status", " ACTIVE ", "在职", {}),
    ("employees", "状态", "status", "退休", Rejected("「退休」不是状态的可选值"), {}),
    ("partners", "类别", "category", "渠道商", "渠道", {}),
    ("partners", "类别", "category", "Supplier", "供应商", {}),
    # yes / no
    *[("training_records", "是否合格", "passed", cell, stored, {}) for cell, stored in [
        ("是", 1), ("否", 0), ("√", 1), ("×", 0), ("Y", 1), ("N", 0), ("TRUE", 1), ("FALSE", 0), ("true", 1),
        (1, 1), (0, 0), ("1", 1), ("0", 0), ("合格", 1), ("不合格", 0), (True, 1), (False, 0), ("yes", 1)]],
    ("training_records", "是否合格", "passed", "也许", Rejected("不是是否合格的可选值"), {}),
]


@pytest.fixture(scope="module")
def values_dir(tmp_path_factory):
    """A data dir for the value and reference cases: each case has its own key (V000 …, R000 …),
    under which an employee, a partner and a training session already exist; plus four staff."""
    folder = tmp_path_factory.mktemp("values")
    data_dir = DataDir.resolve(folder / "data")
    init(data_dir)
    keys = [f"V{i:03d}" for i in range(len(VALUE_CASES))] + [f"R{i:03d}" for i in range(len(REF_CASES))]
    load_staff(data_dir, folder)
    path = make_xlsx(folder / "keys.xlsx", [["工号", "姓名"], *([k, "测试员"] for k in keys)], sheet="员工", sheets={
        "伙伴": [["合作伙伴名称", "类别"], *([k, "其他"] for k in keys)],
        "培训": [["课程名称", "开始日期"], ["值测试课", "2024-01-01"], *([k, "2024-01-01"] for k in keys)],
    })
    run = import_files(data_dir, [path], actor="setup")
    assert run.written and not run.problems, run.problems
    return data_dir


def _case_id(case):
    register, header, column, cell, stored, options = case
    return f"{column}={cell!r}" + ("-1904" if options.get("epoch1904") else "")


@pytest.mark.parametrize("index, case", list(enumerate(VALUE_CASES)), ids=[_case_id(c) for c in VALUE_CASES])
def test_values(values_dir, tmp_path, index, case):
    register, header, column, cell, expected, options = case
    db, headers, cells, sql = SHAPES[register]
    key = f"V{index:03d}"
    path = make_xlsx(tmp_path / "值.xlsx", [[*headers, header], [*cells(key), cell]], **options)
    run = import_files(values_dir, [path], register=register)
    stored = query(values_dir, sql.format(c=column), key, db=db)
    if isinstance(expected, Rejected):
        problem = only_problem(run)
        assert (problem.file, problem.sheet, problem.row, problem.column) == ("值.xlsx", "Sheet1", 2, header)
        assert problem.value == (float(cell) if isinstance(cell, int) else cell)
        assert expected in problem.reason and problem.hint
        assert stored in ([], [(None,)])
    else:
        assert run.written and not run.problems, run.problems
        assert stored == [(expected,)]
        assert type(stored[0][0]) is type(expected)


@pytest.mark.parametrize("register, headers, cells, header, reason", [
    ("employees", ["工号", "姓名", "入职日期", "离职日期"], ["00001", "张三", "2024-03-05", "2024年3月4日"],
     "离职日期", "离职日期不能早于入职日期（2024-03-05）"),
    ("confidentiality_agreements", ["协议编号", "签署方", "签订日期", "生效日期", "到期日期"],
     ["BM-1", "某人", "2024-01-01", "2024-01-01", "2023-12-31"], "到期日期", "到期日期不能早于生效日期（2024-01-01）"),
])
def test_an_end_before_its_start_rejects_the_row(empty_data_dir, tmp_path, register, headers, cells, header, reason):
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "x.xlsx", [headers, cells])], register=register)
    problem = only_problem(run)
    assert (problem.row, problem.column, problem.reason) == (2, header, reason) and problem.hint
    assert one(empty_data_dir, f"SELECT count(*) FROM {register}", db=DEFINITION.registers[register].database) == 0


@pytest.mark.parametrize("cell, number_format, stored", [
    (12, "00000", "00012"),
    (12, None, "12"),
    (12.0, "General", "12"),
    (3, "000", "003"),
    ("00034", None, "00034"),
    (" 00035\u3000", None, "00035"),
])
def test_employee_numbers_in_number_cells_become_text(empty_data_dir, tmp_path, cell, number_format, stored):
    path = make_xlsx(tmp_path / "员工.xlsx", [["工号", "姓名", "联系电话"], [cell, "张三", 13800138000]],
                     formats={"A2": number_format} if number_format else None)
    run = import_files(empty_data_dir, [path])
    assert run.written, run.problems
    assert query(empty_data_dir, "SELECT employee_no, typeof(employee_no), phone FROM employees") == [
        (stored, "text", "13800138000")]


def test_a_formula_uses_its_cached_result(empty_data_dir, tmp_path):
    path = make_xlsx(tmp_path / "客户.xlsx", [["客户编号", "客户名称", "累计消费（元）"], ["KH1", "甲", Formula("SUM(1000,200)")]])
    cache_formula_results(path, "1200")
    run = import_files(empty_data_dir, [path])
    assert run.written, run.problems
    assert one(empty_data_dir, "SELECT total_spend FROM customers") == 1200.0


def test_a_formula_without_a_cached_result_is_reported(empty_data_dir, tmp_path):
    path = make_xlsx(tmp_path / "客户.xlsx", [["客户编号", "客户名称", "累计消费（元）"], ["KH1", "甲", 800],
                                             ["KH2", "乙", Formula("SUM(1000,200)")]])
    run = import_files(empty_data_dir, [path])
    problem = only_problem(run)
    assert (problem.row, problem.column, problem.reason) == (3, "累计消费（元）", "公式没有计算结果")
    assert "保存" in problem.hint
    assert one(empty_data_dir, "SELECT count(*) FROM customers") == 0


# -- 5. references ----------------------------------------------------------------------------
# register, headers, cells, (SQL of what the row refers to, expected) or Rejected
OWNER = "SELECT e.employee_no FROM partners p JOIN employees e ON e.id = p.owner_id WHERE p.name = ?"
TIER = "SELECT t.name FROM customers c JOIN customer_tiers t ON t.id = c.tier_id WHERE c.customer_no = ?"
RECORD = ("SELECT e.employee_no FROM training_records r JOIN employees e ON e.id = r.employee_id "
          "JOIN training_sessions s ON s.id = r.session_id WHERE s.title = ?")
REF_CASES = [
    ("partners", ["合作伙伴名称", "对接负责人"], ["{k}", "00012"], (OWNER, "00012")),
    ("partners", ["合作伙伴名称", "对接负责人"], ["{k}", "高欣怡"], (OWNER, "00003")),
    ("partners", ["合作伙伴名称", "对接负责人"], ["{k}", "陈嘉欣"], (OWNER, "00019")),     # 简 for a 繁 name
    ("partners", ["合作伙伴名称", "对接负责人"], ["{k}", "张伟（00047）"], (OWNER, "00047")),
    ("partners", ["合作伙伴名称", "对接负责人"], ["{k}", "张伟"], Rejected("「张伟」在员工中有多条（00012、00047）")),
    ("partners", ["合作伙伴名称", "对接负责人"], ["{k}", "李四"], Rejected("员工中没有「李四」")),
    ("training_records", ["工号", "姓名", "培训课程", "培训日期"], ["00047", "张伟", "{k}", D(2024, 1, 1)], (RECORD, "00047")),
    ("training_records", ["工号", "姓名", "培训课程", "培训日期"], ["00012", "高欣怡", "{k}", "2024-01-01"],
     Rejected("工号「00012」对应的是「张伟」，不是「高欣怡」")),
    ("training_records", ["工号", "培训课程", "培训日期"], ["00099", "{k}", "2024-01-01"], Rejected("员工中没有「00099」")),
    ("training_records", ["工号", "培训课程", "培训日期"], ["00012", "{k}", "2024-02-02"],
     Rejected("培训计划与课程中没有「{k} + 2024-02-02」")),
    ("customers", ["客户编号", "客户名称", "客户层级"], ["{k}", "甲", "VIP"], (TIER, "重要客户")),
    ("customers", ["客户编号", "客户名称", "客户层级"], ["{k}", "甲", "B类客户"], (TIER, "普通客户")),
    ("customers", ["客户编号", "客户名称", "客户层级"], ["{k}", "甲", "潜在客户"], (TIER, "潜在客户")),
    ("customers", ["客户编号", "客户名称", "客户层级"], ["{k}", "甲", "钻石"], Rejected("客户分层中没有「钻石」")),
]


@pytest.mark.parametrize("index, case", list(enumerate(REF_CASES)), ids=[f"{c[0]}-{c[2][-1]}" for c in REF_CASES])
def test_references(values_dir, tmp_path, index, case):
    register, headers, cells, expected = case
    key = f"R{index:03d}"
    cells = [c.format(k=key) if isinstance(c, str) else c for c in cells]
    run = import_files(values_dir, [make_xlsx(tmp_path / "引用.xlsx", [headers, cells])], register=register)
    if isinstance(expected, Rejected):
        problem = only_problem(run)
        assert problem.row == 2 and problem.column in headers
        assert expected.format(k=key) in problem.reason and problem.hint
    else:
        assert run.written and not run.problems, run.problems
        sql, target = expected
        assert query(values_dir, sql, key) == [(target,)]


def test_a_reference_by_employee_no_in_a_number_cell(empty_data_dir, tmp_path):
    """工号 typed as numbers formatted 00000 (as Excel users do) still find the employee."""
    load_staff(empty_data_dir, tmp_path)
    path = make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "对接负责人"], ["甲公司", 12], ["乙公司", 3]],
                     formats={"B2": "00000", "B3": "00000"})
    run = import_files(empty_data_dir, [path])
    assert run.written, run.problems
    assert query(empty_data_dir, "SELECT p.name, e.employee_no FROM partners p JOIN employees e ON e.id = p.owner_id "
                                 "ORDER BY 1") == [("乙公司", "00003"), ("甲公司", "00012")]


def test_files_of_one_run_refer_to_each_other_in_any_order(empty_data_dir, tmp_path):
    evaluations = make_xlsx(tmp_path / "评估.xlsx", [["合作伙伴", "评估期间", "评级"], ["新伙伴", "2024Q1", "A"]])
    partners = make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别"], ["新伙伴", "媒体"]])
    run = import_files(empty_data_dir, [evaluations, partners])
    assert run.written, run.problems
    assert query(empty_data_dir, "SELECT p.name, e.period, e.rating FROM partner_evaluations e "
                                 "JOIN partners p ON p.id = e.partner_id") == [("新伙伴", "2024-Q1", "优秀")]


# -- 6. nothing partial -----------------------------------------------------------------------
BAD_ROSTER = [["员工花名册"], [], ["工号", "姓名", "入职日期", "在职状态"],
              ["00001", "张三", "2024-03-05", "在职"],
              ["00002", "李四", "2024-02-30", "在职"],
              ["00003", "王五", "2024/6/1", "在岗"]]


def test_one_bad_row_writes_nothing_and_says_where(empty_data_dir, tmp_path):
    before = snapshot(empty_data_dir)
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "花名册.xlsx", BAD_ROSTER, sheet="花名册")])
    problem = only_problem(run)
    assert (problem.file, problem.sheet, problem.row, problem.column, problem.value) == (
        "花名册.xlsx", "花名册", 5, "入职日期", "2024-02-30")
    assert problem.reason == "日期不存在：2024-02-30" and "2 月没有 30 日" in problem.hint
    assert run.counts["employees"]["rejected"] == 1
    assert snapshot(empty_data_dir) == before


def test_skip_invalid_writes_the_valid_rows(empty_data_dir, tmp_path):
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "花名册.xlsx", BAD_ROSTER)], skip_invalid=True)
    assert run.written
    assert [(p.row, p.column) for p in run.problems] == [(5, "入职日期")]
    assert (run.counts["employees"]["inserted"], run.counts["employees"]["rejected"]) == (2, 1)
    assert query(empty_data_dir, "SELECT employee_no, hired_on, status FROM employees ORDER BY 1") == [
        ("00001", "2024-03-05", "在职"), ("00003", "2024-06-01", "在职")]


def test_dry_run_writes_nothing_even_when_clean(empty_data_dir, tmp_path):
    rows = [BAD_ROSTER[2], BAD_ROSTER[3], BAD_ROSTER[5]]
    before = snapshot(empty_data_dir)
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "花名册.xlsx", rows)], dry_run=True)
    assert not run.written and not run.problems
    assert snapshot(empty_data_dir) == before
    assert list_batches(empty_data_dir) == []


def test_the_database_refusing_a_row_is_reported_not_raised(empty_data_dir, tmp_path):
    """A rule only the database checks (a score above its max) comes back as a problem."""
    path = make_xlsx(tmp_path / "评估.xlsx", [["合作伙伴", "评估期间", "合作业绩得分"], ["甲", "2024", 120]],
                     sheets={"伙伴": [["合作伙伴名称", "类别"], ["甲", "媒体"]]})
    before = snapshot(empty_data_dir)
    run = import_files(empty_data_dir, [path])
    problem = only_problem(run)
    assert problem.row == 2 and problem.sheet == "Sheet1" and problem.reason
    assert snapshot(empty_data_dir) == before


# -- 7. upsert, append, replace ---------------------------------------------------------------
ROSTER = [["工号", "姓名", "联系电话", "岗位"],
          ["00001", "张三", "13800000001", "专员"],
          ["00002", "李四", "13800000002", "专员"],
          ["00003", "王五", "13800000003", "主管"],
          ["00004", "赵六", "13800000004", "专员"],
          ["00005", "钱七", "13800000005", "经理"]]


def roster(tmp_path, rows=ROSTER, name="花名册.xlsx"):
    return make_xlsx(tmp_path / name, rows)


def backdate(data_dir, name):
    """Set every row's updated_at far back (not audited), to see which rows a write touches."""
    conn = data_dir.connect("ops")
    tests.conftest.backdate(conn, name, "2000-01-01T00:00:00Z")
    conn.close()


def test_an_exact_duplicate_row_is_skipped_with_a_notice(empty_data_dir, tmp_path):
    rows = [*ROSTER[:3], ROSTER[1], ROSTER[3]]
    run = import_files(empty_data_dir, [roster(tmp_path, rows)])
    assert run.written and not run.problems
    assert any("第 4 行与第 2 行完全相同，已跳过" in n for n in run.notices), run.notices
    assert one(empty_data_dir, "SELECT count(*) FROM employees") == 3


def test_the_same_key_with_different_values_is_a_problem(empty_data_dir, tmp_path):
    rows = [*ROSTER[:3], ["00001", "张三", "13900000009", "专员"]]
    run = import_files(empty_data_dir, [roster(tmp_path, rows)])
    problem = only_problem(run)
    assert (problem.row, problem.column) == (4, "工号") and "与第 2 行的工号相同但内容不同" in problem.reason
    assert one(empty_data_dir, "SELECT count(*) FROM employees") == 0


def test_a_resent_file_updates_exactly_the_edited_rows(empty_data_dir, tmp_path):
    import_files(empty_data_dir, [roster(tmp_path)])
    backdate(empty_data_dir, "employees")
    log = len(audit_log(empty_data_dir))
    edited = [row[:] for row in ROSTER]
    edited[2][2] = "13900000002"
    edited[4][3] = "组长"
    run = import_files(empty_data_dir, [roster(tmp_path, edited, "花名册2.xlsx")])
    assert run.counts["employees"] == {"inserted": 0, "updated": 2, "unchanged": 3, "rejected": 0, "deleted": 0}
    touched = query(empty_data_dir, "SELECT employee_no FROM employees WHERE updated_at != '2000-01-01T00:00:00Z' ORDER BY 1")
    assert touched == [("00002",), ("00004",)]
    new = audit_log(empty_data_dir)[log:]
    assert [(e["operation"], e["row_id"]) for e in new] == [
        ("update", employee_id(empty_data_dir, "00002")), ("update", employee_id(empty_data_dir, "00004"))]
    assert json.loads(new[0]["after"])["phone"] == "13900000002" and json.loads(new[1]["after"])["position"] == "组长"
    # the same file once more: nothing at all
    run = import_files(empty_data_dir, [roster(tmp_path, edited, "花名册2.xlsx")])
    assert run.counts["employees"]["unchanged"] == 5 and len(audit_log(empty_data_dir)) == log + 2


def test_an_empty_cell_clears_and_a_missing_column_keeps(empty_data_dir, tmp_path):
    import_files(empty_data_dir, [roster(tmp_path)])
    cleared = [row[:] for row in ROSTER]
    cleared[1][2] = None
    run = import_files(empty_data_dir, [roster(tmp_path, cleared, "b.xlsx")])
    assert run.counts["employees"]["updated"] == 1
    assert one(empty_data_dir, "SELECT phone FROM employees WHERE employee_no = '00001'") is None
    without_phone = [[r[0], r[1], r[3]] for r in ROSTER]
    without_phone[2][2] = "经理"
    run = import_files(empty_data_dir, [roster(tmp_path, without_phone, "c.xlsx")])
    assert run.counts["employees"]["updated"] == 1
    assert query(empty_data_dir, "SELECT employee_no, phone, position FROM employees ORDER BY 1") == [
        ("00001", None, "专员"), ("00002", "13800000002", "经理"), ("00003", "13800000003", "主管"),
        ("00004", "13800000004", "专员"), ("00005", "13800000005", "经理")]


def test_append_refuses_existing_keys(empty_data_dir, tmp_path):
    import_files(empty_data_dir, [roster(tmp_path, ROSTER[:3])])
    before = snapshot(empty_data_dir)
    run = import_files(empty_data_dir, [roster(tmp_path, [ROSTER[0], ROSTER[2], ROSTER[3]], "b.xlsx")], mode="append")
    problem = only_problem(run)
    assert (problem.row, problem.column) == (2, "工号") and "已有工号相同的记录" in problem.reason
    assert "--mode upsert" in problem.hint
    assert snapshot(empty_data_dir) == before
    run = import_files(empty_data_dir, [roster(tmp_path, [ROSTER[0], ROSTER[3]], "c.xlsx")], mode="append")
    assert run.written and run.counts["employees"]["inserted"] == 1


def test_replace_deletes_the_rows_missing_from_the_file(empty_data_dir, tmp_path):
    import_files(empty_data_dir, [roster(tmp_path)])
    before = snapshot(empty_data_dir)
    bad = [[*r, d] for r, d in zip([ROSTER[0], ROSTER[1], ROSTER[3]], ["入职日期", "2024-01-01", "2024-02-30"])]
    run = import_files(empty_data_dir, [roster(tmp_path, bad, "a.xlsx")], mode="replace")
    assert only_problem(run).row == 3 and snapshot(empty_data_dir) == before   # the deletes went with the rollback
    run = import_files(empty_data_dir, [roster(tmp_path, [ROSTER[0], ROSTER[1], ROSTER[3]], "b.xlsx")], mode="replace")
    assert run.written, run.problems
    assert (run.counts["employees"]["deleted"], run.counts["employees"]["unchanged"]) == (3, 2)
    assert [r[0] for r in query(empty_data_dir, "SELECT employee_no FROM employees ORDER BY 1")] == ["00001", "00003"]
    deletes = [e for e in audit_log(empty_data_dir) if e["operation"] == "delete"]
    assert len(deletes) == 3 and {e["batch_id"] for e in deletes} == {run.batch_id}


def test_replace_keeps_rows_matched_through_a_reference_key(empty_data_dir, tmp_path):
    """partner_evaluations' key is (合作伙伴, 评估期间): rows the file still has are kept as they are."""
    partners = make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别"], ["甲", "媒体"], ["乙", "物流"]])
    rows = [["合作伙伴", "评估期间", "评级"], ["甲", "2024Q1", "A"], ["乙", "2024Q1", "B"], ["甲", "2024Q2", "C"]]
    import_files(empty_data_dir, [partners, make_xlsx(tmp_path / "评估.xlsx", rows)])
    ids = table(empty_data_dir, "partner_evaluations")
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "评估2.xlsx", rows[:3])], mode="replace")
    assert run.written, run.problems
    assert run.counts["partner_evaluations"] == {"inserted": 0, "updated": 0, "unchanged": 2, "rejected": 0, "deleted": 1}
    kept = table(empty_data_dir, "partner_evaluations")
    assert sorted(kept) == sorted(i for i, r in ids.items() if r["period"] != "2024-Q2")
    assert all(kept[i] == ids[i] for i in kept)


def test_replace_refuses_when_other_registers_refer_to_the_rows(empty_data_dir, tmp_path):
    partners = make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别"], ["甲", "媒体"], ["乙", "物流"]])
    evaluations = make_xlsx(tmp_path / "评估.xlsx", [["合作伙伴", "评估期间"], ["乙", "2024"]])
    import_files(empty_data_dir, [partners, evaluations])
    partner = one(empty_data_dir, "SELECT id FROM partners WHERE name = '乙'")
    evaluation = one(empty_data_dir, "SELECT id FROM partner_evaluations")
    before = snapshot(empty_data_dir)
    only_first = make_xlsx(tmp_path / "伙伴2.xlsx", [["合作伙伴名称", "类别"], ["甲", "媒体"]])
    for skip_invalid in (False, True):   # skip_invalid skips rows; it does not let the deletes through
        run = import_files(empty_data_dir, [only_first], mode="replace", skip_invalid=skip_invalid)
        [problem] = run.problems
        assert f"合作伙伴评估 id {evaluation}（合作伙伴 → 合作伙伴档案 id {partner}）" in problem.reason
        assert "--mode upsert" in problem.hint
        assert snapshot(empty_data_dir) == before


def test_replace_with_skip_invalid_keeps_a_row_whose_line_was_rejected(empty_data_dir, tmp_path):
    """The row is still in the file (with a typo): replace must not delete it."""
    import_files(empty_data_dir, [roster(tmp_path, [[*r, d] for r, d in zip(ROSTER, ["入职日期", *["2024-01-01"] * 5])])])
    rows = [[*r, d] for r, d in zip(ROSTER, ["入职日期", "2024-01-01", "2024-02-30", *["2024-01-01"] * 3])]
    run = import_files(empty_data_dir, [roster(tmp_path, rows, "b.xlsx")], mode="replace", skip_invalid=True)
    assert [(p.row, p.column) for p in run.problems] == [(3, "入职日期")]
    assert run.counts["employees"]["deleted"] == 0
    assert one(empty_data_dir, "SELECT hired_on FROM employees WHERE employee_no = '00002'") == "2024-01-01"


# -- 8. provenance and undo -------------------------------------------------------------------
def test_every_audit_row_of_a_run_carries_its_batch(empty_data_dir):
    start = len(audit_log(empty_data_dir))
    paths = [SAMPLES / "departments.xlsx", SAMPLES / "employees.xlsx"]
    run = import_files(empty_data_dir, paths, actor="wang")
    entries = audit_log(empty_data_dir)[start:]
    assert len(entries) >= 140
    assert {(e["batch_id"], e["source"], e["actor"]) for e in entries} == {(run.batch_id, "import", "wang")}
    assert all("departments.xlsx" in e["note"] and "employees.xlsx" in e["note"] for e in entries)
    assert one(empty_data_dir, "SELECT count(*) FROM _audit_context") == 0
    [batch] = list_batches(empty_data_dir)
    assert (batch["id"], batch["actor"], batch["mode"], batch["status"]) == (run.batch_id, "wang", "upsert", "done")
    assert [(f["name"], f["sha256"]) for f in batch["files"]] == [
        (p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in paths]
    assert batch["files"][1]["sheets"] == [{"sheet": "花名册", "register": "employees", "rows": 120}]
    assert batch["counts"]["employees"]["inserted"] == 120 and batch["counts"]["departments"]["inserted"] == 20


PARTNERS = [["合作伙伴名称", "类别", "联系人", "备注"], ["甲公司", "媒体", "周明", "老客户"], ["乙公司", "物流", "曹芳", ""],
            ["丙公司", "渠道", "田勇", "新签"]]


def _partners_twice(data_dir, tmp_path, between=lambda: None):
    """Three partners, then a file editing two of them and adding one: (first run, second run)."""
    first = import_files(data_dir, [make_xlsx(tmp_path / "伙伴1.xlsx", PARTNERS)], actor="wang")
    between()
    edited = [row[:] for row in PARTNERS] + [["丁公司", "其他", "", ""]]
    edited[1][2] = "周亮"
    edited[3][3] = None
    second = import_files(data_dir, [make_xlsx(tmp_path / "伙伴2.xlsx", edited)], actor="li")
    assert second.counts["partners"] == {"inserted": 1, "updated": 2, "unchanged": 1, "rejected": 0, "deleted": 0}
    return first, second


def test_undo_puts_updated_rows_back_and_removes_inserted_ones(empty_data_dir, tmp_path):
    after_first = {}
    first, second = _partners_twice(empty_data_dir, tmp_path, between=lambda: after_first.update(
        table(empty_data_dir, "partners", without=("updated_at",))))
    start = len(audit_log(empty_data_dir))
    assert undo(empty_data_dir, second.batch_id, actor="zhao") == {"partners": 3}
    assert table(empty_data_dir, "partners", without=("updated_at",)) == after_first
    entries = audit_log(empty_data_dir)[start:]
    assert sorted(e["operation"] for e in entries) == ["delete", "update", "update"]
    assert {(e["batch_id"], e["actor"], e["source"]) for e in entries} == {(f"undo:{second.batch_id}", "zhao", "import")}
    statuses = {b["id"]: b["status"] for b in list_batches(empty_data_dir)}
    assert statuses == {first.batch_id: "done", second.batch_id: "undone"}
    with pytest.raises(UndoRefused, match="已经撤销过"):
        undo(empty_data_dir, second.batch_id)
    with pytest.raises(UndoRefused, match="没有导入批次"):
        undo(empty_data_dir, "I00000000-000000-0000")
    assert undo(empty_data_dir, first.batch_id) == {"partners": 3}
    assert table(empty_data_dir, "partners") == {}


def test_undo_across_both_databases_and_deferred_references(empty_data_dir):
    before = snapshot(empty_data_dir)
    run = import_files(empty_data_dir, [SAMPLES / "departments.xlsx", SAMPLES / "employees.xlsx"])
    agreements = import_files(empty_data_dir, [SAMPLES / "confidentiality_agreements.xlsx"], register="confidentiality_agreements",
                              skip_invalid=True)
    assert agreements.written   # partners are not there: those rows are rejected, the employees' kept
    assert one(empty_data_dir, "SELECT count(*) FROM confidentiality_agreements", db="hr") > 0
    undo(empty_data_dir, agreements.batch_id)
    undo(empty_data_dir, run.batch_id)
    after = snapshot(empty_data_dir)
    assert {k: v for k, v in after.items() if not k.startswith("_audit")} == \
        {k: v for k, v in before.items() if not k.startswith("_audit")}


def test_undo_is_refused_after_a_later_change_outside_the_app(empty_data_dir, tmp_path):
    _, second = _partners_twice(empty_data_dir, tmp_path)
    untouched, edited = (one(empty_data_dir, "SELECT id FROM partners WHERE name = ?", name) for name in ("乙公司", "甲公司"))
    conn = sqlite3.connect(empty_data_dir.database("ops"))   # no audit context: recorded unattributed
    conn.execute("UPDATE partners SET address = '手工改的' WHERE id IN (?, ?)", [untouched, edited])
    conn.commit()
    conn.close()
    before = snapshot(empty_data_dir)
    with pytest.raises(UndoRefused) as info:
        undo(empty_data_dir, second.batch_id)
    message = str(info.value)
    assert f"合作伙伴档案 id {edited}（未署名" in message and f"id {untouched}（" not in message
    assert snapshot(empty_data_dir) == before


@pytest.mark.asyncio
async def test_undo_is_refused_after_a_later_edit_through_the_api(empty_ds, empty_data_dir, tmp_path):
    first = import_files(empty_data_dir, [make_xlsx(tmp_path / "伙伴1.xlsx", PARTNERS)], actor="wang")
    partner = one(empty_data_dir, "SELECT id FROM partners WHERE name = '丙公司'")
    r = await empty_ds.client.post(f"/ops/partners/{partner}/-/update", json={"update": {"notes": "接口改的"}},
                                   actor=actor("editor"))
    assert r.status_code == 200, r.text
    before = snapshot(empty_data_dir)
    with pytest.raises(UndoRefused) as info:
        undo(empty_data_dir, first.batch_id)
    assert f"合作伙伴档案 id {partner}（test-editor 于" in str(info.value)
    assert snapshot(empty_data_dir) == before


# -- 9. the report ----------------------------------------------------------------------------
def test_the_report_workbook(empty_data_dir, tmp_path):
    rows = [*BAD_ROSTER, ["00004", "=HYPERLINK(\"x\")", "2024-01-01", "退休"], BAD_ROSTER[3]]
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "花名册.xlsx", rows, sheet="花名册")])
    assert [(p.row, p.column) for p in run.problems] == [(5, "入职日期"), (7, "在职状态")]
    report = tmp_path / "问题.xlsx"
    write_report(run, report)
    wb = openpyxl.load_workbook(report)
    problems, notices, copy = wb.worksheets
    header = [c.value for c in problems[1]]
    assert header[-6:] == ["工作表", "行号", "列", "值", "原因", "处理建议"]
    lines = [tuple(c.value for c in row)[-6:] for row in problems.iter_rows(min_row=2)]
    assert lines == [("花名册", p.row, p.column, p.value, p.reason, p.hint) for p in run.problems]
    assert lines[1][:4] == ("花名册", 7, "在职状态", "退休")
    assert notices.title == "提示" and [c.value for c in notices["A"]][1:] == run.notices
    assert any("第 8 行与第 4 行完全相同" in n for n in run.notices)
    assert copy.title == "花名册（待修改）"
    assert copy["A1"].value == "员工花名册" and copy["C5"].value == "2024-02-30" and copy["D7"].value == "退休"
    filled = {c.coordinate for row in copy.iter_rows() for c in row if c.fill.fgColor.rgb.endswith("FFC7CE")}
    assert filled == {"C5", "D7"}
    assert "日期不存在" in copy["C5"].comment.text
    # text that looks like a formula stays text in the report
    assert copy["B7"].value == '=HYPERLINK("x")'
    with zipfile.ZipFile(report) as zf:
        assert not any(b"<f>" in zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/"))


# -- 10. the command line ---------------------------------------------------------------------
def _cli(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def _one_chinese_line(result):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert re.search(r"[\u4e00-\u9fff]", lines[-1]), lines[-1]
    return lines[-1]


def test_cli_a_broken_file_exits_1_with_one_chinese_line(empty_data_dir, tmp_path):
    bad = tmp_path / "坏文件.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    result = _cli("import", bad, "--data-dir", empty_data_dir.path)
    line = _one_chinese_line(result)
    assert len([x for x in result.output.splitlines() if x.strip()]) == 1
    assert "坏文件.xlsx" in line and "已损坏" in line
    result = _cli("import", make_xlsx(tmp_path / "员工.xlsx", UNKNOWN), "--data-dir", empty_data_dir.path)
    assert "“微信号”" in _one_chinese_line(result)


def test_cli_import_with_problems_and_a_report(empty_data_dir, tmp_path):
    report = tmp_path / "out" / "报告.xlsx"
    report.parent.mkdir()
    result = _cli("import", make_xlsx(tmp_path / "花名册.xlsx", BAD_ROSTER), "--data-dir", empty_data_dir.path,
                  "--report", report)
    assert "什么都没有写入" in _one_chinese_line(result)
    assert "第 5 行“入职日期”列：日期不存在" in result.output
    assert report.exists() and openpyxl.load_workbook(report).worksheets[0].max_row == 2
    assert one(empty_data_dir, "SELECT count(*) FROM employees") == 0


def test_cli_import_list_and_undo(empty_data_dir, tmp_path):
    path = roster(tmp_path)
    store = empty_data_dir.users()   # --actor names a login, whose role may write (and delete) employees
    store.add("wang", "Correct-horse-9", "hr")
    store.close()
    result = _cli("import", path, "--data-dir", empty_data_dir.path, "--actor", "wang")
    assert result.exit_code == 0, result.output
    batch = re.search(r"批次 (I[\d-]+-[0-9a-f]{8})", result.output)[1]
    assert "员工 新增 5" in result.output
    result = _cli("imports", "list", "--data-dir", empty_data_dir.path)
    assert result.exit_code == 0 and batch in result.output and "花名册.xlsx" in result.output and "wang" in result.output
    result = _cli("imports", "undo", batch, "--data-dir", empty_data_dir.path, "--actor", "wang")
    assert result.exit_code == 0 and f"已撤销批次 {batch}" in result.output
    assert one(empty_data_dir, "SELECT count(*) FROM employees") == 0
    assert "已经撤销过" in _one_chinese_line(_cli("imports", "undo", batch, "--data-dir", empty_data_dir.path))
    result = _cli("import", path, "--data-dir", empty_data_dir.path, "--dry-run")
    assert result.exit_code == 0 and "试运行通过，未写入" in result.output


def test_cli_import_help():
    result = _cli("import", "--help")
    assert result.exit_code == 0
    for option in ("--register", "--sheet", "--mode", "--dry-run", "--skip-invalid", "--map", "--ignore", "--report",
                   "--data-dir", "upsert", "append", "replace", "Example", "taizhang import departments.xlsx employees.xlsx"):
        assert option in result.output, option


# -- 11. kill -9 in the middle of a write -----------------------------------------------------
def test_a_kill_during_the_write_leaves_the_databases_as_they_were(empty_data_dir, tmp_path):
    n = 30_000
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("客户档案")
    ws.append(["客户编号", "客户名称", "客户类型"])
    for i in range(n):
        ws.append([f"KH{i:06d}", f"客户{i}", "企业" if i % 3 else "个人"])
    path = tmp_path / "大客户表.xlsx"
    wb.save(path)
    before = snapshot(empty_data_dir)
    wal = empty_data_dir.database("ops").with_name("ops.db-wal")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from scripts.cli import cli; cli()", "import", str(path),
         "--data-dir", str(empty_data_dir.path), "--quiet"],
        cwd=REPO, env={**os.environ, "TAIZHANG_TEST_FAST_HASH": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # the write phase: the transaction's pages pile up in the WAL, the commit comes last
        while proc.poll() is None and time.monotonic() < deadline:
            if wal.exists() and wal.stat().st_size > 1_000_000:
                break
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, "the import ended before it could be killed"
    conn = sqlite3.connect(empty_data_dir.database("ops"))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    finally:
        conn.close()
    assert count in (0, n)
    assert count == 0 and snapshot(empty_data_dir) == before
    assert list_batches(empty_data_dir) == []
    # the lock went with the process: a later import goes through
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "小.xlsx", [["客户编号", "客户名称"], ["KH1", "甲"]])])
    assert run.written


# -- 12. an import while people edit through the API -------------------------------------------
@pytest.mark.asyncio
async def test_an_import_during_api_edits_loses_neither(empty_ds, empty_data_dir, tmp_path, monkeypatch):
    editor = actor("editor")
    r = await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "手工伙伴"}}, actor=editor)
    assert r.status_code == 201, r.text
    n = 3000
    path = make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别", "联系人", "备注"],
                                              *([f"导入伙伴{i:04d}", "媒体", "王", f"第{i}行"] for i in range(n))])
    held, write_plan = {}, writing._write_plan

    def slow_first_write(run, conn, plan, *args):
        if not held:   # the import holds the write lock from before here to its commit
            held["from"] = time.monotonic()
            time.sleep(0.5)
        return write_plan(run, conn, plan, *args)

    def run_import():
        try:
            return import_files(empty_data_dir, [path], actor="importer")
        finally:
            held["to"] = time.monotonic()

    monkeypatch.setattr(writing, "_write_plan", slow_first_write)
    task = asyncio.ensure_future(asyncio.to_thread(run_import))
    responses = []
    while not task.done():
        note, sent = f"编辑{len(responses)}", time.monotonic()
        r = await empty_ds.client.post("/ops/partners/1/-/update", json={"update": {"notes": note}}, actor=editor)
        responses.append((note, (sent, time.monotonic()), r))
        await asyncio.sleep(0.01)
    run = await task
    assert run.written and run.counts["partners"]["inserted"] == n
    assert any(sent < held["to"] and answered > held["from"] for _, (sent, answered), _ in responses), \
        "no edit came while the import held the lock"
    for _note, _, r in responses:   # waited for the lock, or refused with a sentence — never a 500
        assert r.status_code == 200 or (400 <= r.status_code < 500 and re.search(r"[\u4e00-\u9fff]", r.text)), \
            (r.status_code, r.text)
    accepted = [note for note, _, r in responses if r.status_code == 200]
    r = await empty_ds.client.post("/ops/partners/1/-/update", json={"update": {"notes": "最后一次"}}, actor=editor)
    assert r.status_code == 200
    assert one(empty_data_dir, "SELECT count(*) FROM partners") == n + 1
    assert one(empty_data_dir, "SELECT notes FROM partners WHERE id = 1") == "最后一次"
    assert one(empty_data_dir, "SELECT count(*) FROM partners WHERE name LIKE '导入伙伴%' AND "
                               "notes = '第' || CAST(substr(name, 5) AS INTEGER) || '行'") == n
    # every accepted edit is in the audit log, none lost to the import's transaction
    edits = [json.loads(e["after"])["notes"] for e in audit_log(empty_data_dir)
             if e["table_name"] == "partners" and e["row_id"] == 1 and e["operation"] == "update"]
    assert edits == [*accepted, "最后一次"]


@pytest.mark.asyncio
@pytest.mark.parametrize("check", ["4xx", "chinese"])
async def test_an_api_edit_refused_while_an_import_holds_the_lock(empty_ds, empty_data_dir, tmp_path, monkeypatch, check):
    editor = actor("editor")
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "手工伙伴"}}, actor=editor)
    # the app's wait for the lock, 5 s, made short so that the refusal comes quickly
    await empty_ds.get_database("ops").execute_write_fn(
        lambda conn: conn.execute("PRAGMA busy_timeout = 50"), transaction=False)
    locked, write_plan = threading.Event(), writing._write_plan

    def slow_first_write(*args):
        if not locked.is_set():
            locked.set()
            time.sleep(0.4)
        return write_plan(*args)

    monkeypatch.setattr(writing, "_write_plan", slow_first_write)
    path = make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别"], ["导入伙伴", "媒体"]])
    task = asyncio.ensure_future(asyncio.to_thread(import_files, empty_data_dir, [path]))
    while not locked.is_set():
        await asyncio.sleep(0.005)
    r = await empty_ds.client.post("/ops/partners/1/-/update", json={"update": {"notes": "改"}}, actor=editor)
    assert (await task).written
    assert one(empty_data_dir, "SELECT notes FROM partners WHERE id = 1") is None
    if check == "4xx":
        assert 400 <= r.status_code < 500 and r.json()["ok"] is False, (r.status_code, r.text)
    else:
        assert re.search(r"[\u4e00-\u9fff]", r.json()["error"]), r.text
