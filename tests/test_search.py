"""Chinese full-text search through Datasette's own ?_search=: two-character words, 简/繁 in
both directions, one rare and one very common term, and writes made outside the app."""

import sqlite3

import pytest
import pytest_asyncio

from taizhang.chinese import index_text, search_query
from tests.conftest import actor

pytestmark = pytest.mark.fast


@pytest.mark.parametrize("text,query,found", [
    ("本季度预算超支", "预算", True),
    ("本季度预算超支", "預算", True),          # traditional query, simplified text
    ("本季度預算超支", "预算", True),          # simplified query, traditional text
    ("本季度预算超支", "季度预算", True),       # longer words are phrases of pairs
    ("本季度预算超支", "算超", True),
    ("本季度预算超支", "超支", True),           # at the end of a run
    ("本季度预算超支", "支", True),             # one character
    ("本季度预算超支", "预支", False),
    ("客户回访 Q4 report", "q4", True),
    ("客户回访 Q4 report", "REPORT 客户", True),  # every word must appear
    ("客户回访 Q4 report", "report 培训", False),
])
def test_bigram_index_matches(text, query, found):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(body)")
    conn.execute("INSERT INTO f (rowid, body) VALUES (1, ?)", [index_text(text)])
    hits = conn.execute("SELECT rowid FROM f WHERE f MATCH ?", [search_query(query)]).fetchall()
    assert bool(hits) == found


@pytest.mark.parametrize("query", ['"', '""', "'", "AND OR NOT", "*", "(", "NEAR(", "^", "", "  ", "a:b", "-x"])
def test_no_input_breaks_the_match_syntax(query):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(body)")
    conn.execute("SELECT * FROM f WHERE f MATCH ?", [search_query(query)]).fetchall()


MEETINGS = [
    ("运营周会", "讨论下季度预算", "会议确定预算上限，客户回访计划延后。"),
    ("月度总结会", "客户分层", "重要客户回访完成，培训计划照常。"),
    ("季度复盘會議", "年度預算調整", "預算已報財務部。"),           # entered in traditional characters
    ("培训安排", "新员工培训", "无"),
]


@pytest_asyncio.fixture
async def meetings_ds(empty_ds):
    db = empty_ds.get_database("ops")

    def insert(conn):
        for i, (title, agenda, minutes) in enumerate(MEETINGS, start=1):
            conn.execute(
                "INSERT INTO meetings (title, held_on, agenda, minutes) VALUES (?, ?, ?, ?)",
                [title, f"2024-10-0{i}", agenda, minutes],
            )
        # a common term: 客户 in many rows
        conn.executemany(
            "INSERT INTO meetings (title, held_on, minutes) VALUES (?, ?, ?)",
            [(f"客户沟通会{i}", "2024-11-01", f"第{i}次客户沟通") for i in range(200)],
        )

    await db.execute_write_fn(insert)
    return empty_ds


async def _titles(ds, query, table="meetings"):
    response = await ds.client.get(
        f"/ops/{table}.json", params={"_search": query, "_shape": "array", "_size": "max"},
        actor=actor("viewer"))
    assert response.status_code == 200, response.text
    return {row["title"] for row in response.json()}


@pytest.mark.asyncio
async def test_search_finds_two_character_words_in_both_scripts(meetings_ds):
    expected = {"运营周会", "季度复盘會議"}
    assert await _titles(meetings_ds, "预算") == expected
    assert await _titles(meetings_ds, "預算") == expected


@pytest.mark.asyncio
async def test_rare_and_common_terms(meetings_ds):
    assert await _titles(meetings_ds, "财务") == {"季度复盘會議"}   # rare, and typed 简 for 繁 text
    common = await _titles(meetings_ds, "客户")
    assert len(common) == 202 and "月度总结会" in common and "培训安排" not in common
    assert await _titles(meetings_ds, "不存在的词") == set()


@pytest.mark.asyncio
async def test_search_page_renders_with_the_box(meetings_ds):
    response = await meetings_ds.client.get("/ops/meetings?_search=预算", actor=actor("viewer"))
    assert response.status_code == 200
    assert 'name="_search"' in response.text and "运营周会" in response.text


@pytest.mark.asyncio
async def test_writes_through_the_api_are_searchable_at_once(meetings_ds):
    response = await meetings_ds.client.post(
        "/ops/meetings/1/-/update", json={"update": {"minutes": "改为讨论绩效考核"}}, actor=actor("admin"))
    assert response.status_code == 200, response.text
    assert "运营周会" in await _titles(meetings_ds, "绩效")
    assert "运营周会" not in await _titles(meetings_ds, "上限")
    response = await meetings_ds.client.post("/ops/meetings/1/-/delete", actor=actor("admin"))
    assert response.status_code == 200
    assert await _titles(meetings_ds, "绩效") == set()


@pytest.mark.asyncio
async def test_writes_from_a_sqlite_shell_are_searchable(meetings_ds, empty_data_dir):
    conn = sqlite3.connect(empty_data_dir.database("ops"))  # no app, no plugin functions
    conn.execute("INSERT INTO meetings (title, held_on, minutes) VALUES ('外部写入', '2024-12-01', '讨论舆情应对')")
    conn.commit()
    assert await _titles(meetings_ds, "舆情") == {"外部写入"}


@pytest.mark.asyncio
async def test_partners_and_customers_are_searchable(empty_ds):
    db = empty_ds.get_database("ops")
    await db.execute_write_fn(lambda conn: (
        conn.execute("INSERT INTO partners (name, notes) VALUES ('华信物流', '2023年起合作，负责华东配送')"),
        conn.execute("INSERT INTO customers (customer_no, name, preferences) VALUES ('C1', '陳小姐', '偏好線上購物')"),
    ))
    assert await _titles_of(empty_ds, "partners", "配送") == ["华信物流"]
    assert await _titles_of(empty_ds, "customers", "线上") == ["陳小姐"]
    assert await _titles_of(empty_ds, "customers", "陈") == ["陳小姐"]


async def _titles_of(ds, table, query):
    response = await ds.client.get(
        f"/ops/{table}.json", params={"_search": query, "_shape": "array"}, actor=actor("viewer"))
    return [row["name"] for row in response.json()]
