"""The grid's cell endpoint (POST /-/cells/{database}/{table}): typed values read like the
import, all-or-nothing in one audited transaction, refusals in Chinese on the cell concerned,
edit conflicts, permissions per register, and garbage answered with 400, never a 500."""

import json

import pytest
import pytest_asyncio

from tests.conftest import actor, backdate

pytestmark = pytest.mark.fast
EDITOR, ADMIN = actor("editor"), actor("admin")
URL = "/-/cells/ops/partners"


@pytest_asyncio.fixture
async def ds(empty_ds):
    for row in ({"employee_no": "00012", "name": "张伟"}, {"employee_no": "00013", "name": "李娜"},
                {"employee_no": "00014", "name": "李娜"}):
        await empty_ds.client.post("/ops/employees/-/insert", json={"row": row}, actor=ADMIN)
    for name in ("甲公司", "乙公司", "丙公司"):
        await empty_ds.client.post("/ops/partners/-/insert", json={"row": {"name": name, "status": "合作中"}}, actor=ADMIN)
    return empty_ds


async def _post(ds, changes, who=EDITOR, url=URL, **kwargs):
    return await ds.client.post(url, json={"changes": changes}, actor=who, **kwargs)


async def _rows(ds, table="partners"):
    return {r["id"]: r for r in (await ds.client.get(f"/ops/{table}.json?_shape=array", actor=ADMIN)).json()}


def _audit(data_dir):
    conn = data_dir.connect("ops")
    conn.row_factory = __import__("sqlite3").Row
    return [dict(r) for r in conn.execute("SELECT * FROM _audit_log WHERE table_name = 'partners' AND operation = 'update'")]


@pytest.mark.asyncio
async def test_a_paste_is_saved_and_audited_as_the_editor_from_the_ui(ds, empty_data_dir):
    response = await _post(ds, [
        {"id": 1, "column": "status", "value": "暫停"},                 # 繁體 synonym
        {"id": 1, "column": "agreement_start", "value": "2024/3/5"},
        {"id": 2, "column": "agreement_end", "value": "2025年3月4日"},
        {"id": 2, "column": "owner_id", "value": "张伟"},               # a reference by name
        {"id": 3, "column": "owner_id", "value": "00013"},              # … by key
        {"id": 3, "column": "category", "value": "technology"},
    ])
    assert response.status_code == 200, response.text
    rows = await _rows(ds)
    assert (rows[1]["status"], rows[1]["agreement_start"]) == ("暂停", "2024-03-05")
    assert (rows[2]["agreement_end"], rows[2]["owner_id"]) == ("2025-03-04", 1)
    assert (rows[3]["owner_id"], rows[3]["category"]) == (2, "技术服务")
    saved = response.json()["rows"]
    assert saved["1"]["version"] == rows[1]["updated_at"]
    assert saved["2"]["cells"]["owner_id"] == {"value": 1, "label": "张伟", "href": "/ops/employees/1"}
    log = _audit(empty_data_dir)
    assert {(e["actor"], e["role"], e["source"]) for e in log} == {("test-editor", "editor", "ui")}
    assert sorted(e["row_id"] for e in log) == [1, 2, 3]


@pytest.mark.asyncio
async def test_one_bad_cell_saves_nothing_and_every_bad_cell_is_named(ds):
    response = await _post(ds, [
        {"id": 1, "column": "notes", "value": "好的修改"},
        {"id": 2, "column": "agreement_start", "value": "2024-02-30"},
        {"id": 3, "column": "status", "value": "随便"},
        {"id": 3, "column": "owner_id", "value": "李娜"},                # two employees of that name
    ])
    assert response.status_code == 400
    errors = {(e["id"], e["column"]): e["message"] for e in response.json()["errors"]}
    assert set(errors) == {(2, "agreement_start"), (3, "status"), (3, "owner_id")}
    assert "协议开始日期" in errors[2, "agreement_start"] and "2024-02-30" in errors[2, "agreement_start"]
    assert "日期不存在" in errors[2, "agreement_start"]
    assert "「随便」不是合作状态的可选值" in errors[3, "status"] and "合作中" in errors[3, "status"]
    assert "00013" in errors[3, "owner_id"] and "00014" in errors[3, "owner_id"]
    assert (await _rows(ds))[1]["notes"] is None                      # the good cell was not saved either


@pytest.mark.asyncio
async def test_end_before_start_is_refused_by_the_database_rule(ds):
    response = await _post(ds, [
        {"id": 1, "column": "agreement_start", "value": "2025-01-01"},
        {"id": 1, "column": "agreement_end", "value": "2024/1/1"},
        {"id": 2, "column": "notes", "value": "x"},
    ])
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert (error["id"], error["column"]) == (1, "agreement_end")
    assert error["message"].startswith("协议到期日期不能早于协议开始日期")
    rows = await _rows(ds)
    assert rows[1]["agreement_start"] is None and rows[2]["notes"] is None


@pytest.mark.asyncio
async def test_refusals_and_rules_follow_the_page_language(ds):
    changes = [{"id": 1, "column": "agreement_start", "value": "2025-01-01"},
               {"id": 1, "column": "agreement_end", "value": "2024/1/1"}]
    response = await _post(ds, changes, cookies={"tz_lang": "zh-Hant"})
    (error,) = response.json()["errors"]
    assert error["message"].startswith("協議到期日期不能早於協議開始日期")
    assert error["column"] == "agreement_end"                      # names stay names
    page = (await ds.client.get("/ops/partners", actor=EDITOR, cookies={"tz_lang": "zh-Hant"})).text
    rules = json.loads(page.split("window.taizhangGrid = ", 1)[1].split(";\n", 1)[0].split(";</script>", 1)[0])
    assert rules["columns"]["status"]["label"] == "合作狀態"
    assert "合作中" in rules["columns"]["status"]["values"]          # stored values stay as stored


@pytest.mark.asyncio
async def test_refusals_and_rules_in_english(ds):
    changes = [{"id": 1, "column": "agreement_start", "value": "2025-01-01"},
               {"id": 1, "column": "agreement_end", "value": "2024-02-30"}]
    (error,) = (await _post(ds, changes, cookies={"tz_lang": "en"})).json()["errors"]
    assert error["message"].startswith("Agreement end: No such date: 2024-02-30. Check the year")
    changes[1]["value"] = "2024/1/1"
    (error,) = (await _post(ds, changes, cookies={"tz_lang": "en"})).json()["errors"]
    assert error["message"].startswith("Agreement end cannot be earlier than Agreement start (received: ")
    page = (await ds.client.get("/ops/partners", actor=EDITOR, cookies={"tz_lang": "en"})).text
    rules = json.loads(page.split("window.taizhangGrid = ", 1)[1].split(";</script>", 1)[0])
    assert rules["columns"]["agreement_end"]["label"] == "Agreement end"


@pytest.mark.asyncio
async def test_a_database_refusal_names_each_bad_cell_of_a_row(ds):
    response = await _post(ds, [
        {"id": 1, "column": "email", "value": "不是邮箱"},
        {"id": 1, "column": "phone", "value": "无"},
        {"id": 1, "column": "notes", "value": "好"},
    ])
    assert response.status_code == 400
    errors = {e["column"]: e["message"] for e in response.json()["errors"]}
    assert set(errors) == {"email", "phone"}
    assert errors["email"].startswith("邮箱格式不正确") and "不是邮箱" in errors["email"]


@pytest.mark.asyncio
async def test_a_row_changed_since_the_page_was_read_is_a_conflict(ds, empty_data_dir):
    backdate(empty_data_dir.connect("ops"), "partners")
    await ds.client.post("/ops/partners/1/-/update", json={"update": {"notes": "别人先改了"}}, actor=ADMIN)
    stale = [{"id": 1, "column": "notes", "value": "我的", "version": "2020-01-01T00:00:00Z"}]
    response = await _post(ds, stale)
    assert response.status_code == 409
    (error,) = response.json()["errors"]
    assert error["conflict"] and error["message"].startswith("此记录已被 test-admin 于")
    assert "改动了：备注（合作历史）" in error["message"] and "If-Match" not in error["message"]
    assert (await _rows(ds))[1]["notes"] == "别人先改了"
    current = (await _rows(ds))[2]["updated_at"]                      # an unchanged row saves
    assert (await _post(ds, [{"id": 2, "column": "notes", "value": "ok", "version": current}])).status_code == 200
    overwrite = await _post(ds, [{"id": 1, "column": "notes", "value": "我的"}])   # 覆盖保存: no version
    assert overwrite.status_code == 200 and (await _rows(ds))[1]["notes"] == "我的"


@pytest.mark.asyncio
async def test_permissions_per_role_and_register(ds):
    change = [{"id": 1, "column": "notes", "value": "x"}]
    for role in ("viewer", "analyst"):
        response = await _post(ds, change, who=actor(role))
        assert response.status_code == 403 and "没有修改此台账的权限" in response.json()["message"]
    assert (await ds.client.post(URL, json={"changes": change})).status_code == 403          # anonymous
    assert (await _post(ds, change, url="/-/cells/ops/employees")).status_code == 403        # editor: read only
    assert (await _post(ds, change, url="/-/cells/hr/confidentiality_agreements")).status_code == 403
    assert (await _post(ds, change, url="/-/cells/hr/partners")).status_code == 403           # wrong file
    hr = await _post(ds, [{"id": 1, "column": "notes", "value": "x"}], who=actor("hr"),
                     url="/-/cells/hr/confidentiality_agreements")
    assert hr.status_code == 400 and "没有 id 为 1 的记录" in hr.json()["message"]                         # hr may; no such row
    assert (await _post(ds, change, who=actor("manager"))).status_code == 200


@pytest.mark.asyncio
@pytest.mark.parametrize("body", [
    "not json", "[]", "{}", '{"changes": []}', '{"changes": "x"}', '{"changes": [1]}',
    '{"changes": [{"id": 1, "column": "notes", "value": NaN}]}', '{"changes": [{"id": 1, "column": "notes", "value": true}]}',
    '{"changes": [{"id": "x", "column": "notes", "value": 1}]}',
    '{"changes": [{"id": true, "column": "notes", "value": 1}]}',
    '{"changes": [{"id": 1, "column": "no_such_column", "value": 1}]}',
    '{"changes": [{"id": 1, "column": "id", "value": 9}]}',
    '{"changes": [{"id": 1, "column": "updated_at", "value": "x"}]}',
    '{"changes": [{"id": 1, "column": "notes", "value": {"a": 1}}]}',
    '{"changes": [{"id": 1, "column": "notes", "value": "x", "version": 5}]}',
    '{"changes": [{"id": 999999, "column": "notes", "value": "x"}]}',
    '{"changes": [{"id": 99999999999999999999999, "column": "notes", "value": "x"}]}',
    '{"changes": [{"id": 1, "column": "owner_id", "value": 1.5}]}',
    '{"changes": [{"id": 1, "column": "agreement_start", "value": 1e400}]}',
    json.dumps({"changes": [{"id": 1, "column": "notes", "value": "x"}] * 3000}),
    json.dumps({"changes": [{"id": 1, "column": "notes", "value": "x" * 2_000_000}]}),
    '{"changes": [{"id": 1, "column": "notes", "value": "a\\ud800"}]}',       # a lone surrogate
    '{"changes": [{"id": 1, "column": "notes", "value": "x", "version": "\\udfff"}]}',
])
async def test_garbage_is_answered_with_400(ds, body):
    response = await ds.client.post(URL, content=body, headers={"content-type": "application/json"}, actor=EDITOR)
    assert response.status_code == 400, response.text
    assert response.json()["ok"] is False and response.json()["errors"][0]["message"]
    assert "codec" not in response.json()["message"]          # in Chinese, not Python's words
    assert (await _rows(ds))[1]["notes"] is None


@pytest.mark.asyncio
async def test_cross_site_and_form_posts_cannot_reach_it(ds):
    change = {"changes": [{"id": 1, "column": "notes", "value": "evil"}]}
    for headers in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}):
        response = await ds.client.post(URL, json=change, headers=headers, actor=EDITOR)
        assert response.status_code == 403
    # A plain HTML form (what a cross-site page could send without a preflight) is refused too.
    form = await ds.client.post(URL, content=json.dumps(change), actor=EDITOR,
                                headers={"content-type": "text/plain"})
    assert form.status_code == 400 and "application/json" in form.json()["message"]
    assert (await ds.client.get(URL, actor=EDITOR)).status_code == 405
    assert (await _rows(ds))[1]["notes"] is None


@pytest.mark.asyncio
async def test_the_grid_is_loaded_only_for_those_who_may_edit(ds):
    page = (await ds.client.get("/ops/partners", actor=EDITOR)).text
    assert "/assets/grid.js" in page and "/assets/grid.css" in page and "window.taizhangGrid" in page
    config, _ = json.JSONDecoder().raw_decode(page.split("window.taizhangGrid = ", 1)[1])
    assert config["endpoint"] == "/-/cells/ops/partners"
    assert config["columns"]["category"]["values"] == ["供应商", "渠道", "媒体", "技术服务", "物流", "其他"]
    assert config["columns"]["agreement_end"]["not_before"] == "agreement_start"
    assert config["columns"]["owner_id"]["references"] == "employees"
    assert "id" in config["readOnly"] and "updated_at" in config["readOnly"]
    for role in ("viewer", "analyst"):
        page = (await ds.client.get("/ops/partners", actor=actor(role))).text
        assert "grid.js" not in page and "grid.css" not in page and "taizhangGrid" not in page
    assert "grid.js" not in (await ds.client.get("/ops/employees", actor=EDITOR)).text     # a register it only reads
    assert "grid.js" not in (await ds.client.get("/ops/partners/1", actor=EDITOR)).text    # not on the row page
    evaluations = (await ds.client.get("/ops/partner_evaluations", actor=EDITOR)).text
    assert '"total_score"' in evaluations.split("readOnly", 1)[1]                          # derived: read only


@pytest.mark.asyncio
async def test_a_cross_file_reference_is_checked_and_put_on_its_cell(ds):
    hr = actor("hr")
    inserted = await ds.client.post("/hr/confidentiality_agreements/-/insert", json={"row": {
        "agreement_no": "BM-1", "party_kind": "员工", "party_name": "张伟", "employee_no": "00012",
        "signed_on": "2024-01-01"}}, actor=hr)
    assert inserted.status_code == 201, inserted.text
    url = "/-/cells/hr/confidentiality_agreements"
    response = await _post(ds, [{"id": 1, "column": "employee_no", "value": "99999"},
                                {"id": 1, "column": "notes", "value": "x"}], who=hr, url=url)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["id"], e["column"]) for e in errors] == [(1, "employee_no")]
    assert "99999" in errors[0]["message"] and "员工" in errors[0]["message"]
    ok = await _post(ds, [{"id": 1, "column": "signed_on", "value": "2024年2月1日"}], who=hr, url=url)
    assert ok.status_code == 200
    assert ok.json()["rows"]["1"]["cells"]["signed_on"]["value"] == "2024-02-01"


@pytest.mark.asyncio
async def test_numbers_too_large_for_the_database_are_refused_in_chinese(ds):
    await ds.client.post("/ops/training_sessions/-/insert", json={"row": {"title": "入职"}}, actor=ADMIN)
    for value in (10**30, "1" * 30):
        response = await ds.client.post("/-/cells/ops/training_sessions", json={"changes": [
            {"id": 1, "column": "plan_year", "value": value}, {"id": 1, "column": "hours", "value": 2}]}, actor=ADMIN)
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert error["column"] == "plan_year" and "数值过大" in error["message"]
