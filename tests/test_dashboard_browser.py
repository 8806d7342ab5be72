"""仪表盘 in Chromium, as each role that reads something different: the charts are drawn (a
canvas with pixels), a click on a bar opens the rows it counts; and a printed document (会议纪要)
as paper: the app's header and buttons gone, an A4 PDF. Screenshots go to
test-artifacts/screenshots/ (dashboard-<role>.png, print-meeting.png, print-meeting.pdf)."""

import pytest

from taizhang.demo import DEMO_ACCOUNTS
from tests.browser import ARTIFACTS, PASSWORD, login, running_server

pytestmark = pytest.mark.browser
SHOTS = ARTIFACTS / "screenshots"
ROLES = ("manager", "employee", "leader", "finance", "hr", "viewer")


@pytest.fixture(scope="module")
def server(demo_data_dir):
    store = demo_data_dir.users()
    for role in ROLES:
        if not store.get(f"dash-{role}"):
            store.add(f"dash-{role}", PASSWORD, role, employee_no=DEMO_ACCOUNTS[role])
    with running_server(demo_data_dir) as url:
        yield url


def _drawn(page, canvas_id: str) -> bool:
    """Some pixel of the canvas is not blank: Chart.js drew into it."""
    return page.evaluate("""id => {
        const c = document.getElementById(id), ctx = c.getContext('2d');
        const d = ctx.getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
        return false; }""", canvas_id)


@pytest.mark.parametrize("role", ROLES)
def test_the_dashboard_of_each_role(browser, server, role):
    page = login(browser, server, f"dash-{role}", start="/-/dashboard")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(server + "/-/dashboard")
    page.wait_for_function("() => !document.querySelector('canvas') || window.Chart !== undefined")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"dashboard-{role}.png"), full_page=True)
    titles = page.locator(".dash-card h3 a").all_inner_texts()
    canvases = page.locator("canvas").evaluate_all("cs => cs.map(c => c.id)")
    for canvas in canvases:
        assert _drawn(page, canvas), (role, canvas)
    if role == "employee":
        assert "请假申请" in " ".join(titles) and "合作伙伴评估平均得分（按评估期间）" not in titles
    if role == "hr":
        assert "保密协议" in titles    # a confidential register: its deadlines for hr
    else:
        assert "保密协议" not in titles
    if role == "manager":
        assert len(canvases) >= 4
    page.close()


def test_a_click_on_a_bar_opens_its_rows(browser, server):
    page = login(browser, server, "dash-manager", start="/-/dashboard")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(server + "/-/dashboard")
    card = page.locator(".dash-card", has=page.locator("h3", has_text="客户反馈与投诉（每周）"))
    canvas = card.locator("canvas")
    canvas.scroll_into_view_if_needed()
    # the tallest bar's middle, from Chart.js's own geometry
    point = canvas.evaluate("""c => {
        const chart = Chart.getChart(c); let best = null;
        chart.data.datasets.forEach((d, di) => chart.getDatasetMeta(di).data.forEach((bar, i) => {
            if (d.data[i] && (!best || d.data[i] > best.value)) best = {x: bar.x, y: (bar.y + bar.base) / 2, value: d.data[i]};
        }));
        return best; }""")
    box = canvas.bounding_box()
    with page.expect_navigation():
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    assert "/ops/customer_feedback?" in page.url and "received_at__gte=" in page.url
    assert page.locator("table.rows-and-columns tbody tr").count() == point["value"]
    page.close()


def test_minutes_print_as_a_document(browser, server, demo_data_dir):
    import sqlite3

    meeting = sqlite3.connect(demo_data_dir.database("ops")).execute(
        "SELECT meeting_id FROM meeting_actions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    page = login(browser, server, "dash-manager", start=f"/ops/meetings/{meeting}")
    page.goto(f"{server}/ops/meetings/{meeting}")
    with page.expect_navigation():
        page.click("a:has-text('打印会议纪要')")
    assert page.locator("header").first.is_visible() and page.locator(".print-actions button").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("header").first.is_visible()
    assert not page.locator(".print-actions button").is_visible()
    assert page.locator(".print-doc h1").inner_text().replace(" ", "") == "会议纪要"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "print-meeting.png"), full_page=True)
    pdf = page.pdf(format="A4")
    (SHOTS / "print-meeting.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 1
    page.close()
