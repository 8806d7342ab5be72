"""Rules and refusals as data: the schema's typed checks, explain()'s typed refusals, and what
reads them — the browser rules (by kind), the form and the grid (by columns), the importer (the
schema's sentence), the English catalogue (said from the kind, not read out of the Chinese)."""

import sqlite3

import pytest

from taizhang import checks, client_rules, i18n, refusal_english
from taizhang.checks import Check
from taizhang.client_rules import register_rules
from taizhang.messages import REFUSAL_KINDS, explain
from taizhang.registers import load
from taizhang.schema import _checks, _guards, column_check, column_checks
from tests.conftest import actor

pytestmark = pytest.mark.fast
DEFINITION = load()
PARTNERS = DEFINITION.registers["partners"]
EDITOR = actor("editor")


def test_every_kind_has_a_sentence_a_browser_key_and_english():
    server = i18n._read(i18n.SERVER_CATALOGUE)
    assert set(checks.SENTENCES) == set(checks.KINDS)
    assert set(client_rules.MESSAGE_KEYS) == set(checks.KINDS)
    assert set(server["kinds"]) == {*checks.KINDS, "required", "unique"}
    assert not set(checks.KINDS) & set(REFUSAL_KINDS)      # a refusal's kind says which it is


def test_every_check_of_every_register_is_typed():
    for reg in DEFINITION.registers.values():
        for check in column_checks(reg):
            assert check.kind in checks.KINDS and check.column in reg.columns
            assert check.judged[0] == check.column and set(check.judged) <= set(reg.columns)
    end = column_check(PARTNERS, PARTNERS.columns["agreement_end"], "not_before")
    assert (end.message, end.judged, end.params) == (
        "协议到期日期不能早于协议开始日期", ("agreement_end", "agreement_start"), {"other": "agreement_start"})
    hours = DEFINITION.registers["training_sessions"].columns["hours"]
    assert [(c.kind, c.params) for c in _checks(DEFINITION.registers["training_sessions"], hours)] == [
        ("number", {}), ("range", {"min": 0, "max": 1000})]


def test_a_check_kind_with_no_browser_key_fails_loudly():
    stray = Check("nonesuch", "name", "名称不对", "1", ("name",))
    with pytest.raises(KeyError, match="nonesuch"):
        client_rules.message_key(stray)
    with pytest.raises(ValueError, match="nonesuch"):
        checks.make("nonesuch", "name", "1", lambda c: c)


def test_a_kind_with_no_english_stops_the_catalogue():
    templates = dict(i18n._read(i18n.SERVER_CATALOGUE)["kinds"])
    del templates["not_before"]
    with pytest.raises(KeyError, match="not_before"):
        refusal_english.sentences(DEFINITION, templates)


@pytest.mark.parametrize("name", ["partners", "employees", "training_sessions", "confidentiality_agreements"])
def test_browser_messages_are_keyed_by_the_checks_kind(name):
    reg = DEFINITION.registers[name]
    rules = register_rules(reg)
    for col in reg.columns.values():
        messages = rules["columns"][col.name]["messages"]
        for check in [*_checks(reg, col), *_guards(reg, col)]:
            assert messages[client_rules.MESSAGE_KEYS[check.kind]] == check.message


@pytest.mark.parametrize("error, kind, columns, text", [
    ("CHECK constraint failed: 协议到期日期不能早于协议开始日期", "not_before", ("agreement_end", "agreement_start"),
     "协议到期日期不能早于协议开始日期（收到的值：协议到期日期「2024-01-01」，协议开始日期「2025-01-01」）"),
    # a guard trigger raises its sentence bare: the same typed rule
    ("合作伙伴名称不能含有控制字符或文字方向控制符（如换行、制表符、U+202E），请删除后再保存", "characters", ("name",),
     "合作伙伴名称不能含有控制字符或文字方向控制符（如换行、制表符、U+202E），请删除后再保存"),
    ("NOT NULL constraint failed: partners.name", "required", ("name",), "合作伙伴名称为必填项，不能为空"),
    ("UNIQUE constraint failed: partners.name", "unique", ("name",),
     "合作伙伴档案中已有合作伙伴名称相同的记录，合作伙伴名称不能重复（收到的值：合作伙伴名称「乙」）"),
    ("FOREIGN KEY constraint failed", "foreign_key", (), "引用的记录不存在，或本记录仍被其他台账引用而不能删除或修改编号"),
    ("别的什么", "other", (), "别的什么"),
])
def test_explain_says_which_rule_refused(error, kind, columns, text):
    row = {"name": "乙", "agreement_start": "2025-01-01", "agreement_end": "2024-01-01"}
    refusal = explain(error, DEFINITION, "partners", [row])
    assert (refusal.kind, refusal.columns, refusal.text, str(refusal)) == (kind, columns, text, text)


def test_a_duplicate_id_names_the_id_without_a_label():
    refusal = explain("UNIQUE constraint failed: partners.id", DEFINITION, "partners", [{"id": 7, "name": "乙"}])
    assert refusal.kind == "unique" and refusal.text.endswith("（收到的值：id「7」）")


def test_english_of_every_rule_is_said_from_its_kind():
    english = i18n.catalogue("en")
    evaluations = DEFINITION.registers["partner_evaluations"]
    cases = {
        "协议到期日期不能早于协议开始日期": "Agreement end cannot be earlier than Agreement start",
        "学时必须在 0 到 1000 之间": "Hours must be between 0 and 1000",
        "费用（元）不能小于 0": "Cost (CNY) cannot be less than 0",
        # the reference column's own English (Partner), not the register's (Partners)
        "合作伙伴为必填项，不能为空": "Partner is required",
        messages_unique(evaluations): "Partner evaluations already has a record with the same Partner, Period:"
                                      " Partner, Period must be unique",
        "协议到期日期不能早于协议开始日期（收到的值：协议到期日期「2024-01-01」）":
            "Agreement end cannot be earlier than Agreement start (received: 协议到期日期「2024-01-01」)",
    }
    for hans, en in cases.items():
        assert english.text(i18n._normalise(hans), None) == en
    # every column rule of every register has its English
    for reg in DEFINITION.registers.values():
        for check in column_checks(reg):
            assert english.text(i18n._normalise(check.message), None) not in (None, check.message)


def messages_unique(reg) -> str:
    return str(explain("UNIQUE constraint failed: " + ", ".join(f"{reg.name}.{k}" for k in reg.natural_key), DEFINITION))


@pytest.mark.asyncio
async def test_a_check_refusal_in_english_on_the_form_and_the_json_api(empty_ds):
    form = {"name": "乙", "kind": "供应商", "agreement_start": "2025-01-01", "agreement_end": "2024-01-01"}
    page = (await empty_ds.client.post("/-/form/ops/training_sessions", data={
        "title": "课", "hours": "2000"}, actor=actor("hr"), cookies={"tz_lang": "en"})).text
    block = page[page.index('id="f-hours"'):]
    assert "Hours must be between 0 and 1000" in block[:block.index("</div>")]
    row = {"row": {k: v for k, v in form.items() if k != "kind"}}
    answer = await empty_ds.client.post("/ops/partners/-/insert", json=row, actor=actor("admin"), cookies={"tz_lang": "en"})
    assert answer.status_code == 400
    assert answer.json()["errors"] == ["Agreement end cannot be earlier than Agreement start (received: "
                                       "协议到期日期「2024-01-01」，协议开始日期「2025-01-01」)"]
    hans = await empty_ds.client.post("/ops/partners/-/insert", json=row, actor=actor("admin"))
    assert hans.json()["errors"] == ["协议到期日期不能早于协议开始日期（收到的值：协议到期日期「2024-01-01」，协议开始日期「2025-01-01」）"]


@pytest.mark.asyncio
async def test_a_unique_refusal_on_the_form_is_put_on_the_key_field(empty_ds):
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, actor=actor("admin"))
    page = (await empty_ds.client.post("/-/form/ops/partners", data={"name": "甲"}, actor=EDITOR)).text
    block = page[page.index('id="f-name"'):]
    assert "合作伙伴档案中已有合作伙伴名称相同的记录" in block[:block.index("</div>")]


@pytest.mark.asyncio
async def test_the_grid_puts_a_rule_on_the_cell_it_judges(empty_ds):
    # Each value alone is fine, together they are refused: on the cell the rule judges first,
    # not the first cell sent.
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, actor=actor("admin"))
    answer = await empty_ds.client.post("/-/cells/ops/partners", json={"changes": [
        {"id": 1, "column": "agreement_start", "value": "2025-01-01"},
        {"id": 1, "column": "agreement_end", "value": "2024-01-01"}]}, actor=EDITOR, cookies={"tz_lang": "en"})
    (error,) = answer.json()["errors"]
    assert error["column"] == "agreement_end"
    assert error["message"].startswith("Agreement end cannot be earlier than Agreement start (received: ")


def test_the_importer_says_the_schemas_sentence(empty_data_dir, tmp_path):
    from taizhang.importer.engine import import_files
    from tests.conftest import xlsx_bytes

    path = tmp_path / "合作伙伴.xlsx"
    path.write_bytes(xlsx_bytes([["合作伙伴名称", "协议开始日期", "协议到期日期"], ["甲", "2025-01-01", "2024-12-31"]]))
    run = import_files(empty_data_dir, [path], register="partners")
    (problem,) = run.problems
    rule = column_check(PARTNERS, PARTNERS.columns["agreement_end"], "not_before").message
    assert problem.reason == f"{rule}（2025-01-01）" == "协议到期日期不能早于协议开始日期（2025-01-01）"
    conn = sqlite3.connect(empty_data_dir.database("ops"))
    assert conn.execute("SELECT count(*) FROM partners").fetchone() == (0,)
