"""仪表盘: per reader, over what they may read; every number links to exactly the rows it counts."""

import html
import json
import re
import sqlite3

import pytest

from taizhang import dashboard
from taizhang.registers import DefinitionError, load, parse
from tests.conftest import ROLES, actor

pytestmark = pytest.mark.fast


def _charts(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="tz-charts">(.*?)</script>', page, re.S).group(1))


async def _table_count(ds, url: str, who: dict) -> int:
    path, query = url.split("?", 1)
    response = await ds.client.get(f"{path}.json?{query}&_size=0&_extra=count", actor=who)
    assert response.status_code == 200, (url, response.text[:300])
    return response.json()["count"]


async def _table_total(ds, url: str, who: dict, column: str) -> float:
    path, query = url.split("?", 1)
    rows = (await ds.client.get(f"{path}.json?{query}&_size=max&_shape=array&_col={column}", actor=who)).json()
    return round(sum(r[column] or 0 for r in rows), 2)


def _leave_employee(demo_data_dir) -> str:
    conn = sqlite3.connect(demo_data_dir.database("ops"))
    return conn.execute("SELECT e.employee_no FROM leave_requests l JOIN employees e ON e.id = l.applicant_id"
                        " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("role", [r for r in ROLES if r != "department_head"])
async def test_each_role_sees_the_charts_of_the_registers_it_reads(demo_ds, role):
    response = await demo_ds.client.get("/-/dashboard", actor=actor(role))
    assert response.status_code == 200
    drawn = _charts(response.text)
    definition = load()
    for number, chart in enumerate(definition.charts):
        reg = definition.registers[chart.register]
        readable = (await demo_ds.client.get(f"/{reg.database}/{reg.name}.json?_size=0", actor=actor(role))).status_code == 200
        assert (f'id="chart-{number}"' in response.text) == (readable and f"chart-{number}" in drawn), (role, chart.title)
        if not readable:
            assert chart.title not in response.text


@pytest.mark.asyncio
async def test_every_bar_counts_exactly_the_rows_its_link_shows(demo_ds):
    """The manager's charts, point by point, against the table page the point links to."""
    who = actor("manager")
    drawn = _charts((await demo_ds.client.get("/-/dashboard", actor=who)).text)
    checked = 0
    for number, chart in enumerate(load().charts):
        spec = drawn.get(f"chart-{number}")
        if spec is None:
            continue
        for dataset in spec["datasets"]:
            for value, link in zip(dataset["data"], dataset["links"]):
                if not value:
                    continue
                url = spec["url"] + link
                if chart.measure == "count":
                    assert await _table_count(demo_ds, url, who) == value, (chart.title, link)
                elif chart.measure == "sum":
                    assert await _table_total(demo_ds, url, who, chart.of) == value, (chart.title, link)
                checked += 1
    assert checked > 30


@pytest.mark.asyncio
async def test_an_employee_sees_only_their_own_leave(demo_ds, demo_data_dir):
    employee_no = _leave_employee(demo_data_dir)
    who = {"id": "u-staff", "roles": ["employee"], "employee_no": employee_no}
    page = (await demo_ds.client.get("/-/dashboard", actor=who)).text
    number = next(i for i, c in enumerate(load().charts) if c.register == "leave_requests")
    spec = _charts(page)[f"chart-{number}"]
    shown = round(sum(v for d in spec["datasets"] for v in d["data"]), 2)
    conn = sqlite3.connect(demo_data_dir.database("ops"))
    own, everyone = conn.execute(
        "SELECT round(total(CASE WHEN e.employee_no = ? THEN l.days END), 2), round(total(l.days), 2)"
        " FROM leave_requests l JOIN employees e ON e.id = l.applicant_id"
        " WHERE l.starts_on >= ?", [employee_no, spec["datasets"][0]["links"][0].split("starts_on__gte=")[1][:10]]).fetchone()
    assert shown == own < everyone
    assert "合作伙伴评估平均得分" not in page      # partner evaluations are not an employee's to read
    for state in re.findall(r'href="(/ops/leave_requests\?status=[^"]+)"', page):   # and the state counts are theirs too
        count = int(re.search(re.escape(state) + r'">[^<]* (\d+)</a>', page).group(1))
        assert await _table_count(demo_ds, html.unescape(state), who) == count


@pytest.mark.asyncio
async def test_states_and_deadlines_link_to_their_rows(demo_ds):
    who = actor("manager")
    page = (await demo_ds.client.get("/-/dashboard", actor=who)).text
    assert "办理中的流程" in page and "逾期与即将到期" in page
    chips = re.findall(r'<a href="(/ops/customer_feedback\?status=[^"]+)">[^<]* (\d+)</a>', page)
    assert chips
    for url, count in chips:
        assert await _table_count(demo_ds, html.unescape(url), who) == int(count)
    overdue = re.search(r'href="(/ops/due_tasks)">已逾期 (\d+) 项', page)
    assert overdue
    report = (await demo_ds.client.get(overdue.group(1) + ".json?_shape=array&_size=max", actor=who)).json()
    assert len({r["编号"] for r in report}) == int(overdue.group(2))


@pytest.mark.asyncio
async def test_the_chart_library_is_served_here_not_from_a_cdn(demo_ds):
    page = (await demo_ds.client.get("/-/dashboard", actor=actor("manager"))).text
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', page)
    assert "/assets/vendor/chart.umd.min.js" in scripts and not [s for s in scripts if "//" in s]
    library = await demo_ds.client.get("/assets/vendor/chart.umd.min.js", actor=actor("manager"))
    assert library.status_code == 200 and "Chart.js v4" in library.text[:100]
    assert (await demo_ds.client.get("/", actor=actor("viewer"))).text.count('href="/-/dashboard"') >= 1


def test_buckets_are_the_dates_their_links_filter():
    assert dashboard.bucket_range("week", "2026-11-16") == ("2026-11-16", "2026-11-23")
    assert dashboard.bucket_range("month", "2026-12") == ("2026-12-01", "2027-01-01")
    assert dashboard.bucket_range("quarter", "2026-Q4") == ("2026-10-01", "2027-01-01")
    assert dashboard.bucket_range("quarter", "2026-Q1") == ("2026-01-01", "2026-04-01")
    assert dashboard.bucket_range("year", "2026") == ("2026-01-01", "2027-01-01")
    assert dashboard.bucket_range("day", "2026-02-28") == ("2026-02-28", "2026-03-01")


@pytest.mark.parametrize("change, message", [
    ({"register": "nothing"}, "unknown register"),
    ({"by": "nope"}, "has no column"),
    ({"every": None}, "every:"),
    ({"avg": "subject"}, "number column"),
    ({"split": "subject"}, "enum column"),
    ({"kind": "pie"}, "kind:"),
])
def test_a_bad_chart_is_refused_with_what_is_wrong(change, message):
    import yaml

    from taizhang.registers import DEFINITION_PATH

    data = yaml.safe_load(DEFINITION_PATH.read_text(encoding="utf-8"))
    chart = {"title": "测试", "register": "customer_feedback", "by": "received_at", "every": "week", **change}
    data["dashboard"] = [{k: v for k, v in chart.items() if v is not None}]
    with pytest.raises(DefinitionError, match=message):
        parse(data)
