"""Excel export: every register round-trips (export -> import changes nothing), filtered views
and reports export what they show, and no cell becomes a formula in xlsx or CSV."""

import csv
import io

import openpyxl
import pytest
import pytest_asyncio

from taizhang.importer.engine import import_files
from taizhang.registers import load
from tests.conftest import actor

pytestmark = pytest.mark.fast
REGISTERS = list(load().registers.values())


@pytest_asyncio.fixture(scope="module")
async def exported(demo_ds, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    for reg in REGISTERS:
        response = await demo_ds.client.get(f"/{reg.database}/{reg.name}.xlsx", actor=actor("admin"))
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        (folder / f"{reg.name}.xlsx").write_bytes(response.content)
    return folder


def _nested(reg) -> bool:
    """A reference to a register whose natural key itself holds a reference (a task's 上级任务:
    title + 责任人): the export writes the inner key as an id, which the import cannot read back.
    A known bug (issue 12's rough edges), kept visible by the strict xfail below."""
    definition = load()
    return any(any(definition.registers[c.references].columns[k].type == "fk"
                   for k in definition.registers[c.references].natural_key if k in definition.registers[c.references].columns)
               for c in reg.foreign_keys)


def test_every_register_round_trips(exported, demo_data_dir):
    _round_trip(exported, demo_data_dir, [r for r in REGISTERS if not _nested(r)])


@pytest.mark.xfail(strict=True, reason="references to a register keyed by a reference are exported as ids")
def test_registers_referring_to_a_register_keyed_by_a_reference_round_trip(exported, demo_data_dir):
    _round_trip(exported, demo_data_dir, [r for r in REGISTERS if _nested(r)])


def _round_trip(exported, demo_data_dir, registers):
    import sqlite3

    before = {r.name: sqlite3.connect(demo_data_dir.database(r.database)).execute(
        f"SELECT count(*), max(updated_at) FROM {r.name}").fetchone() for r in registers}
    for reg in registers:
        run = import_files(demo_data_dir, [exported / f"{reg.name}.xlsx"], register=reg.name, actor="round-trip")
        assert run.problems == [], (reg.name, run.problems[:3])
        counts = run.counts[reg.name]
        assert (counts["inserted"], counts["updated"]) == (0, 0), reg.name
        assert counts["unchanged"] == before[reg.name][0], reg.name
    after = {r.name: sqlite3.connect(demo_data_dir.database(r.database)).execute(
        f"SELECT count(*), max(updated_at) FROM {r.name}").fetchone() for r in registers}
    assert after == before


def test_exported_cells_are_typed_and_labelled(exported):
    ws = openpyxl.load_workbook(exported / "employees.xlsx").active
    headers = [c.value for c in ws[1]]
    assert headers[:3] == ["工号", "姓名", "部门"]
    first = [c for c in ws[2]]
    assert first[0].data_type == "s" and first[0].value.isdigit() and len(first[0].value) == 5   # 工号 as text
    hired = first[headers.index("入职日期")]
    assert hired.is_date
    records = openpyxl.load_workbook(exported / "training_records.xlsx").active
    headers = [c.value for c in records[1]]
    assert headers[:3] == ["员工", "课程名称", "开始日期"]          # composite key: one column per part
    assert "（" in records.cell(row=2, column=1).value           # 姓名（工号）


@pytest.mark.asyncio
async def test_filtered_views_and_reports_export_what_they_show(demo_ds):
    response = await demo_ds.client.get("/ops/customers.xlsx?churn_risk=高", actor=actor("viewer"))
    ws = openpyxl.load_workbook(io.BytesIO(response.content)).active
    headers = [c.value for c in ws[1]]
    risks = {row[headers.index("流失风险")] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert risks == {"高"}
    count = (await demo_ds.client.get("/ops/customers.json?churn_risk=高&_extra=count", actor=actor("viewer"))).json()["count"]
    assert ws.max_row - 1 == count
    report = await demo_ds.client.get("/ops/customer_tier_overview.xlsx", actor=actor("viewer"))
    ws = openpyxl.load_workbook(io.BytesIO(report.content)).active
    assert [c.value for c in ws[1]][:3] == ["客户层级", "排序", "客户数"]


@pytest.mark.asyncio
async def test_confidential_export_is_refused_to_others(demo_ds):
    for role in ("viewer", "manager", "editor", "analyst"):
        response = await demo_ds.client.get("/hr/confidentiality_agreements.xlsx", actor=actor(role))
        assert response.status_code == 403


@pytest.mark.asyncio
async def test_nothing_becomes_a_formula(empty_ds, tmp_path):
    # (a leading CR is left out: XML itself turns it into LF in any xlsx)
    payloads = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"]
    await empty_ds.client.post("/ops/partners/-/insert", json={"rows": [
        {"name": f"伙伴{i}", "notes": p} for i, p in enumerate(payloads)]}, actor=actor("admin"))
    xlsx = await empty_ds.client.get("/ops/partners.xlsx", actor=actor("admin"))
    ws = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    notes = [row for row in ws.iter_rows(min_row=2)]
    column = [c.value for c in ws[1]].index("备注（合作历史）")
    assert [r[column].value for r in notes] == payloads and all(r[column].data_type == "s" for r in notes)
    csv_response = await empty_ds.client.get("/ops/partners.csv?_bom=1", actor=actor("admin"))
    assert csv_response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(csv_response.content.decode("utf-8-sig"), newline="")))
    assert [r["notes"] for r in rows] == ["'" + p for p in payloads]
    (tmp_path / "p.xlsx").write_bytes(xlsx.content)
    run = import_files(empty_ds_dir(empty_ds), [tmp_path / "p.xlsx"], register="partners")
    # stored back as the same text (the tab-led one is trimmed: imports trim surrounding spaces)
    assert run.counts["partners"]["unchanged"] == len(payloads) - 1


def empty_ds_dir(ds):
    from taizhang.web import data_dir

    return data_dir(ds)
