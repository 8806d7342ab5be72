"""从 Excel 导入 in the browser's routes: upload, preview with the mapping, confirm in the
background, the report, the batch list and undo — the same engine as the CLI."""

import asyncio
import io
import re

import openpyxl
import pytest

from taizhang.web import user_store
from tests.conftest import actor, xlsx_bytes

pytestmark = pytest.mark.fast


async def _upload(ds, content, who, table="partners", **form):
    response = await ds.client.post(
        f"/-/import/ops/{table}", files={"file": ("伙伴.xlsx", content)}, data=form, actor=who)
    assert response.status_code == 302, response.text
    return response.headers["location"]


@pytest.mark.asyncio
async def test_upload_preview_confirm_and_undo(empty_ds):
    # A login in users.db (batches belong to its account) whose role may also delete partners,
    # which undoing the rows it added does.
    user_store(empty_ds).add("wang", "Correct-horse-9", "manager")
    importer = {"id": "wang", "roles": ["manager"]}
    page = await empty_ds.client.get("/ops/partners", actor=importer)
    assert "从 Excel 导入" in page.text
    content = xlsx_bytes([["合作伙伴台账"], [], ["序号", "合作伙伴名称", "类别", "微信"], [1, "甲公司", "supplier", "jia"], [2, "乙公司", "媒体", "yi"]])
    preview_url = await _upload(empty_ds, content, importer)
    preview = await empty_ds.client.get(preview_url, actor=importer)
    assert preview.status_code == 200
    assert "微信" in preview.text and "无法对应" in preview.text        # the unknown column, to map
    assert "确认导入" not in preview.text
    # map it away with the select, then the preview shows the rows as they will be stored
    await empty_ds.client.post(preview_url, data={"map:微信": "__ignore__"}, actor=importer)
    preview = await empty_ds.client.get(preview_url, actor=importer)
    assert "第 3 行为表头" in preview.text and "供应商" in preview.text and "确认导入" in preview.text
    status_url = (await empty_ds.client.post(preview_url + "/confirm", actor=importer)).headers["location"]
    for _ in range(50):
        status = (await empty_ds.client.get(status_url + ".json", actor=importer)).json()
        if status["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert status["status"] == "done" and status["result"]["written"]
    rows = (await empty_ds.client.get("/ops/partners.json?_shape=array", actor=importer)).json()
    assert sorted((r["name"], r["category"]) for r in rows) == [("乙公司", "媒体"), ("甲公司", "供应商")]
    batches = await empty_ds.client.get("/-/imports", actor=importer)
    assert status["result"]["batch"] in batches.text
    undo = await empty_ds.client.post("/-/imports", data={"batch": status["result"]["batch"]}, actor=importer)
    assert undo.status_code == 302
    assert (await empty_ds.client.get("/ops/partners.json?_shape=array", actor=importer)).json() == []


@pytest.mark.asyncio
async def test_problems_are_shown_and_reported(empty_ds):
    editor = actor("editor")
    content = xlsx_bytes([["合作伙伴名称", "协议开始日期", "协议到期日期"], ["甲", "2024-02-30", ""], ["乙", "2025-01-01", "2024-01-01"]])
    url = await _upload(empty_ds, content, editor)
    preview = await empty_ds.client.get(url, actor=editor)
    assert "日期不存在：2024-02-30" in preview.text and "不能早于" in preview.text
    assert "确认导入" not in preview.text
    report = await empty_ds.client.get(url + "/report.xlsx", actor=editor)
    sheet = openpyxl.load_workbook(io.BytesIO(report.content))["问题"]
    assert [c.value for c in sheet[1]] == ["文件", "工作表", "行号", "列", "值", "原因", "处理建议"]
    assert sheet.max_row == 3


@pytest.mark.asyncio
async def test_only_those_who_may_insert_see_or_use_it(empty_ds):
    content = xlsx_bytes([["合作伙伴名称"], ["甲"]])
    for role in ("viewer", "analyst"):
        page = await empty_ds.client.get("/ops/partners", actor=actor(role))
        assert "从 Excel 导入" not in page.text
        assert (await empty_ds.client.get("/-/import/ops/partners", actor=actor(role))).status_code == 403
        response = await empty_ds.client.post("/-/import/ops/partners", files={"file": ("x.xlsx", content)}, actor=actor(role))
        assert response.status_code == 403
    assert (await empty_ds.client.get("/-/import/hr/confidentiality_agreements", actor=actor("editor"))).status_code == 403


@pytest.mark.asyncio
async def test_an_upload_belongs_to_its_uploader(empty_ds):
    url = await _upload(empty_ds, xlsx_bytes([["合作伙伴名称"], ["甲"]]), actor("editor"))
    other = {"id": "someone-else", "roles": ["editor"]}
    assert (await empty_ds.client.get(url, actor=other)).status_code == 404
    assert (await empty_ds.client.post(url + "/confirm", actor=other)).status_code == 404


@pytest.mark.asyncio
async def test_a_hostile_file_gets_a_sentence(empty_ds):
    url = await _upload(empty_ds, "name,category\n甲,供应商\n".encode(), actor("editor"))
    preview = await empty_ds.client.get(url, actor=actor("editor"))
    assert preview.status_code == 200 and "CSV" in preview.text
    assert re.search(r"message-error", preview.text)


@pytest.mark.asyncio
@pytest.mark.parametrize("value", ["no_such_column", "id", "", "x" * 5000, "\x00", "confidentiality_agreements"])
async def test_a_mapping_to_no_column_is_refused_in_the_preview(empty_ds, value):
    editor = actor("editor")
    content = xlsx_bytes([["合作伙伴名称", "类别", "微信"], ["甲公司", "媒体", "jia"]])
    preview_url = await _upload(empty_ds, content, editor)
    response = await empty_ds.client.post(preview_url, data={"map:微信": value or "."}, actor=editor)
    assert response.status_code == 302
    messages = {"ds_messages": response.cookies["ds_messages"]}   # the browser would send it back
    preview = await empty_ds.client.get(preview_url, actor=editor, cookies=messages)
    assert preview.status_code == 200
    assert "没有这个字段，请从列表中选择" in preview.text and "无法对应" in preview.text   # still to map
