"""Register-aware forms: labels and widgets from the definition, typed dates, errors next to
their field in Chinese, and the edit-conflict refusal with a deliberate overwrite."""

import pytest

from taizhang.client_rules import register_rules
from taizhang.importer.values import CellError, parse_cell
from taizhang.registers import load
from taizhang.schema import check_columns
from tests.conftest import actor, backdate

pytestmark = pytest.mark.fast


@pytest.mark.asyncio
async def test_insert_form_knows_the_register(empty_ds):
    admin, editor = actor("admin"), actor("editor")
    await empty_ds.client.post("/ops/employees/-/insert", json={"row": {"employee_no": "00012", "name": "张伟"}}, actor=admin)
    page = (await empty_ds.client.get("/-/form/ops/partners", actor=editor)).text
    assert "合作伙伴名称" in page and 'aria-label="必填"' in page
    assert '<option value="供应商">' in page and "张伟（00012）" in page
    assert "可选：供应商、渠道、媒体、技术服务、物流、其他" in page
    response = await empty_ds.client.post("/-/form/ops/partners", data={
        "name": "甲公司", "category": "供应商", "owner_id": "1", "agreement_start": "2024/3/5",
        "agreement_end": "2025年3月4日"}, actor=editor)
    assert response.status_code == 302
    row = (await empty_ds.client.get("/ops/partners/1.json?_shape=array", actor=editor)).json()[0]
    assert (row["category"], row["owner_id"], row["agreement_start"], row["agreement_end"]) == ("供应商", 1, "2024-03-05", "2025-03-04")


@pytest.mark.asyncio
@pytest.mark.parametrize("form,field,message", [
    ({"name": "乙", "agreement_start": "2024-02-30"}, "agreement_start", "日期不存在：2024-02-30"),
    ({"name": "乙", "agreement_start": "2025-01-01", "agreement_end": "2024-01-01"}, "agreement_end", "协议到期日期不能早于协议开始日期"),
    ({"name": ""}, "name", "合作伙伴名称"),
])
async def test_errors_appear_next_to_their_field(empty_ds, form, field, message):
    page = await empty_ds.client.post("/-/form/ops/partners", data=form, actor=actor("editor"))
    assert page.status_code == 200
    html = page.text
    block = html[html.index(f'id="f-{field}"'):]
    block = block[:block.index('</div>')]
    assert message in block and "field-error" in block
    assert (await empty_ds.client.get("/ops/partners.json?_shape=array", actor=actor("editor"))).json() == []


@pytest.mark.asyncio
@pytest.mark.parametrize("lang,field,message", [
    ("en", "agreement_start", "No such date: 2024-02-30. Check the year"),   # the reader's sentence
    ("en", "agreement_end", "Agreement end cannot be earlier than Agreement start"),   # the database's
    ("zh-Hant", "agreement_end", "協議到期日期不能早於協議開始日期"),
])
async def test_errors_in_the_page_language(empty_ds, lang, field, message):
    form = {"name": "乙", "agreement_start": "2024-02-30"} if field == "agreement_start" else {
        "name": "乙", "agreement_start": "2025-01-01", "agreement_end": "2024-01-01"}
    page = (await empty_ds.client.post("/-/form/ops/partners", data=form, actor=actor("editor"),
                                       cookies={"tz_lang": lang})).text
    block = page[page.index(f'id="f-{field}"'):]
    assert message in block[:block.index("</div>")]


@pytest.mark.asyncio
async def test_edit_conflict_then_overwrite(empty_ds, empty_data_dir):
    admin, editor = actor("admin"), actor("editor")
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲"}}, actor=admin)
    backdate(empty_data_dir.connect("ops"), "partners")
    form = await empty_ds.client.get("/-/form/ops/partners/1", actor=editor)
    assert 'name="_version" value="2020-01-01T00:00:00Z"' in form.text
    await empty_ds.client.post("/ops/partners/1/-/update", json={"update": {"notes": "别人先改了"}}, actor=admin)
    stale = await empty_ds.client.post("/-/form/ops/partners/1", data={
        "_version": "2020-01-01T00:00:00Z", "name": "甲", "notes": "我的修改"}, actor=editor)
    assert stale.status_code == 200
    assert "此记录已被 test-admin 于" in stale.text and "备注（合作历史）" in stale.text and "覆盖保存" in stale.text
    row = (await empty_ds.client.get("/ops/partners/1.json?_shape=array", actor=admin)).json()[0]
    assert row["notes"] == "别人先改了"
    overwrite = await empty_ds.client.post("/-/form/ops/partners/1", data={
        "_version": "2020-01-01T00:00:00Z", "name": "甲", "notes": "我的修改", "_overwrite": "覆盖保存"}, actor=editor)
    assert overwrite.status_code == 302
    row = (await empty_ds.client.get("/ops/partners/1.json?_shape=array", actor=admin)).json()[0]
    assert row["notes"] == "我的修改"


@pytest.mark.asyncio
async def test_forms_follow_permissions(empty_ds):
    page = await empty_ds.client.get("/ops/partners", actor=actor("editor"))
    assert "新增合作伙伴档案（表单）" in page.text
    for role in ("viewer", "analyst"):
        assert (await empty_ds.client.get("/-/form/ops/partners", actor=actor(role))).status_code == 403
    assert (await empty_ds.client.get("/-/form/hr/confidentiality_agreements", actor=actor("editor"))).status_code == 403
    assert (await empty_ds.client.post("/-/form/ops/employees", data={"employee_no": "1", "name": "x"}, actor=actor("editor"))).status_code == 403


@pytest.mark.parametrize("name", list(load().registers))
def test_client_rules_mirror_the_definition(name):
    reg = load().registers[name]
    rules = register_rules(reg)
    assert rules["register"] == name and rules["label"] == reg.label and set(rules["columns"]) == set(reg.columns)
    for col in reg.columns.values():
        rule = rules["columns"][col.name]
        assert (rule["label"], rule["type"], rule["required"]) == (col.label, col.type, col.required)
        assert (rule["min"], rule["max"], rule["not_before"], rule["format"]) == (col.min, col.max, col.not_before, col.format)
        if col.type == "enum":
            assert [c["value"] for c in rule["choices"]] == list(col.values)
            assert all(rule["synonyms"][word] == value for word, value in col.synonyms().items())
        if col.type == "fk":
            assert rule["picker"] == f"/-/choices/{reg.database}/{name}/{col.name}"
        if col.required:
            assert rule["messages"]["required"] == f"{col.label}为必填项，不能为空"
    # every sentence the database refuses a single column with is the browser's sentence too
    browser = {m for r in rules["columns"].values() for m in r["messages"].values()}
    register_wide = {c["message"] for c in reg.checks}
    assert set(check_columns(reg)) - register_wide <= browser


@pytest.mark.parametrize("typed", ["2024-02-30", "2024/2/30", "2023年2月29日", "32号"])
def test_browser_date_sentences_are_the_servers(typed):
    col = load().registers["partners"].columns["agreement_start"]
    rule = register_rules(load().registers["partners"])["columns"]["agreement_start"]
    with pytest.raises(CellError) as refused:
        parse_cell(col, typed)
    kind = "impossible" if refused.value.reason.startswith("日期不存在") else "unreadable"
    assert rule["messages"][kind].replace("{value}", typed) == f"{refused.value.reason}。{refused.value.hint}"


@pytest.mark.asyncio
async def test_rules_and_scripts_only_for_those_who_may_write(empty_ds):
    form = (await empty_ds.client.get("/-/form/ops/partners", actor=actor("editor"))).text
    table = (await empty_ds.client.get("/ops/partners", actor=actor("editor"))).text
    for page in (form, table):
        assert "window.taizhangForms = " in page and '"register": "partners"' in page
        assert "/assets/rules.js" in page and "/assets/forms.js" in page and "/assets/forms.css" in page
    viewer = (await empty_ds.client.get("/ops/partners", actor=actor("viewer"))).text
    assert "window.taizhangForms" not in viewer
    employees = (await empty_ds.client.get("/ops/employees", actor=actor("editor"))).text
    assert "window.taizhangForms" not in employees   # editors do not write employees


@pytest.mark.asyncio
async def test_conflict_shows_what_changed(empty_ds, empty_data_dir):
    admin, editor = actor("admin"), actor("editor")
    await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": "甲", "category": "供应商"}}, actor=admin)
    backdate(empty_data_dir.connect("ops"), "partners")
    await empty_ds.client.post("/ops/partners/1/-/update", json={"update": {"category": "媒体"}}, actor=admin)
    stale = (await empty_ds.client.post("/-/form/ops/partners/1", data={
        "_version": "2020-01-01T00:00:00Z", "name": "甲", "category": "物流"}, actor=editor)).text
    table = stale[stale.index('class="conflict-changes"'):stale.index("</table>")]
    assert "<th scope=\"row\">类别</th><td>媒体</td><td>物流</td>" in table.replace("\n      ", "")
    assert "If-Match" not in stale and "重新载入" in stale and "覆盖保存" in stale
    # the refused form keeps the version read: a plain 保存 is refused again until a choice is made
    assert 'name="_version" value="2020-01-01T00:00:00Z"' in stale


@pytest.mark.asyncio
async def test_a_row_id_beyond_sqlite_integers_is_not_a_500(empty_ds):
    huge = "9" * 30
    editor = actor("editor")
    for response in (await empty_ds.client.get(f"/-/form/ops/partners/{huge}", actor=editor),
                     await empty_ds.client.post(f"/-/form/ops/partners/{huge}", data={"name": "x"}, actor=editor),
                     await empty_ds.client.get(f"/-/history/ops/partners/{huge}", actor=editor)):
        assert response.status_code == 400 and "数值过大" in response.text
