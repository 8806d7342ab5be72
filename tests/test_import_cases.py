"""Import cases found with real-looking files: a 繁體 footer, a blank row inside a vertically
merged group, re-importing an unchanged file with derived columns, a header with no data rows.
Each workbook is built here with openpyxl (merged cells included)."""

import sqlite3

import pytest
from click.testing import CliRunner

from scripts.cli import cli
from taizhang.importer import reading
from taizhang.importer.engine import ImportStopped, import_files
from tests.conftest import backdate
from tests.test_import import make_xlsx, query, snapshot

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("footer", [
    "製表人：朱超\u3000\u3000審核：韓子涵", "審核：韓子涵", "製表日期：2025年1月5日", "總計", "複核：王芳",
])
def test_a_traditional_footer_is_a_footer(empty_data_dir, tmp_path, footer):
    rows = [["工號", "姓名"], ["00101", "趙一"], ["00102", "錢二"], [footer]]
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "花名冊.xlsx", rows)])
    assert run.written and not run.problems, run.problems
    assert [r.row for r in run.plans[0].records] == [2, 3]
    assert any("第 4 行是表尾" in n for n in run.notices), run.notices


@pytest.mark.parametrize("copy_limit", [reading.REPORT_COPY_LIMIT, 0], ids=["kept for the report", "streamed"])
def test_a_blank_row_inside_a_merged_group_is_blank(empty_data_dir, tmp_path, monkeypatch, copy_limit):
    """部门 merged down C2:C5 over three employees and the blank line under them."""
    monkeypatch.setattr(reading, "REPORT_COPY_LIMIT", copy_limit)
    import_files(empty_data_dir, [make_xlsx(tmp_path / "部门.xlsx", [["部门名称", "备注"], ["运营部", ""]])])
    rows = [["工号", "姓名", "部门"], ["00201", "甲", "运营部"], ["00202", "乙", None], ["00203", "丙", None],
            [None, None, None], ["00204", "丁", "运营部"]]
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "员工.xlsx", rows, merges=["C2:C5"])])
    assert run.written and not run.problems, run.problems
    assert [r.row for r in run.plans[0].records] == [2, 3, 4, 6]
    assert query(empty_data_dir, "SELECT e.employee_no, d.name FROM employees e JOIN departments d"
                                 " ON d.id = e.department_id ORDER BY 1") == [
        ("00201", "运营部"), ("00202", "运营部"), ("00203", "运营部"), ("00204", "运营部")]


EVALUATIONS = [["合作伙伴", "评估期间", "合作业绩得分", "服务质量得分", "信誉得分", "综合得分", "评级"],
               ["甲公司", "2024-Q1", 90, 80, 90, 86.666667, None],     # Excel's unrounded AVERAGE, no rating
               ["甲公司", "2024-Q2", 70, 60, 50, None, None],          # both left to the database
               ["甲公司", "2024-Q3", 95, 95, 95, 95, "合格"]]          # a rating someone chose


def test_reimporting_an_unchanged_file_with_derived_columns_changes_nothing(empty_data_dir, tmp_path):
    import_files(empty_data_dir, [make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别"], ["甲公司", "媒体"]])])
    path = make_xlsx(tmp_path / "评估.xlsx", EVALUATIONS)
    first = import_files(empty_data_dir, [path])
    assert first.written and first.counts["partner_evaluations"]["inserted"] == 3, first.problems
    stored = query(empty_data_dir, "SELECT period, total_score, rating FROM partner_evaluations ORDER BY period")
    assert stored == [("2024-Q1", 86.67, "良好"), ("2024-Q2", 60.0, "合格"), ("2024-Q3", 95.0, "合格")]
    conn = empty_data_dir.connect("ops")
    backdate(conn, "partner_evaluations", "2000-01-01T00:00:00Z")   # to see what is touched
    conn.close()
    before = snapshot(empty_data_dir)
    again = import_files(empty_data_dir, [path])
    assert again.counts["partner_evaluations"]["unchanged"] == 3, again.counts
    assert again.counts["partner_evaluations"]["updated"] == 0
    assert snapshot(empty_data_dir) == before   # no updated_at touched, no audit entry


def test_a_real_change_next_to_a_derived_column_still_updates(empty_data_dir, tmp_path):
    import_files(empty_data_dir, [make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别"], ["甲公司", "媒体"]])])
    import_files(empty_data_dir, [make_xlsx(tmp_path / "评估.xlsx", EVALUATIONS)])
    changed = [row[:] for row in EVALUATIONS]
    changed[1][2] = 40     # performance 90 -> 40: the total and the derived rating follow
    changed[3][6] = None   # the chosen 合格 left blank: the rating follows the score again
    run = import_files(empty_data_dir, [make_xlsx(tmp_path / "评估2.xlsx", changed)])
    assert run.counts["partner_evaluations"]["updated"] == 2, run.counts
    assert query(empty_data_dir, "SELECT period, total_score, rating FROM partner_evaluations ORDER BY period") == [
        ("2024-Q1", 70.0, "合格"), ("2024-Q2", 60.0, "合格"), ("2024-Q3", 95.0, "优秀")]


@pytest.mark.parametrize("rows", [
    [["工号", "姓名", "联系电话"]],
    [["员工花名册"], [], ["工号", "姓名", "联系电话"], [], ["制表人：朱超"]],
], ids=["header only", "title, header and footer"])
def test_a_workbook_without_data_rows_is_refused_as_a_whole(empty_data_dir, tmp_path, rows):
    path = make_xlsx(tmp_path / "空花名册.xlsx", rows)
    before = snapshot(empty_data_dir)
    with pytest.raises(ImportStopped, match="没有数据行") as refused:
        import_files(empty_data_dir, [path])
    assert "空花名册.xlsx" in str(refused.value) and "Sheet1" in str(refused.value)
    result = CliRunner().invoke(cli, ["import", str(path), "--data-dir", str(empty_data_dir.path)])
    assert result.exit_code != 0 and "没有数据行" in result.output
    assert snapshot(empty_data_dir) == before
    for db in ("ops", "hr"):   # no batch recorded (the table is made by the first import that writes)
        tables = {r[0] for r in query(empty_data_dir, "SELECT name FROM sqlite_master", db=db)}
        assert "_import_batches" not in tables or query(empty_data_dir, "SELECT count(*) FROM _import_batches", db=db) == [(0,)]


def test_an_empty_sheet_beside_a_full_one_is_only_a_notice(empty_data_dir, tmp_path):
    """Refused as a whole only when no sheet has data: an empty second sheet is left out."""
    path = make_xlsx(tmp_path / "花名册.xlsx", [["工号", "姓名"], ["00001", "张三"]],
                     sheets={"离职": [["工号", "姓名"]]})
    run = import_files(empty_data_dir, [path])
    assert run.written and query(empty_data_dir, "SELECT employee_no FROM employees") == [("00001",)]


def test_reimporting_an_export_changes_nothing(empty_data_dir, tmp_path):
    """The register's own Excel export (综合得分 and 评级 included) read back as it is."""
    from taizhang import export
    from tests.test_import import DEFINITION

    import_files(empty_data_dir, [make_xlsx(tmp_path / "伙伴.xlsx", [["合作伙伴名称", "类别"], ["甲公司", "媒体"]])])
    import_files(empty_data_dir, [make_xlsx(tmp_path / "评估.xlsx", EVALUATIONS)])
    reg = DEFINITION.registers["partner_evaluations"]
    conn = sqlite3.connect(empty_data_dir.database("ops"))
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM partner_evaluations")]
    headers, data, dates = export.register_rows(conn, DEFINITION, reg, rows)
    conn.close()
    path = tmp_path / "导出.xlsx"
    path.write_bytes(export.workbook(reg.label, headers, data, dates))
    before = snapshot(empty_data_dir)
    run = import_files(empty_data_dir, [path])
    assert run.counts["partner_evaluations"]["unchanged"] == 3, (run.counts, run.problems)
    assert snapshot(empty_data_dir) == before
