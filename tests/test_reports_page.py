"""报表: one page listing every report a login may open — no more, no fewer — linked from the menu."""

import re

import pytest
import yaml

from taizhang.datadir import REPO
from tests.conftest import ROLES, actor

pytestmark = pytest.mark.fast

CONFIG = yaml.safe_load((REPO / "datasette.yml").read_text(encoding="utf-8"))
REPORTS = {(db, name): query for db, spec in CONFIG["databases"].items() for name, query in spec["queries"].items()}


def _listed(html: str) -> set[tuple[str, str]]:
    return set(re.findall(r'<li><a href="/(\w+)/(\w+)">', html))


@pytest.mark.asyncio
@pytest.mark.parametrize("role", ROLES)
async def test_each_role_sees_exactly_the_reports_it_may_open(demo_ds, role):
    response = await demo_ds.client.get("/-/reports", actor=actor(role))
    assert response.status_code == 200
    expected = {key for key, query in REPORTS.items() if role in query["permissions"]["view-query"]["roles"]}
    assert _listed(response.text) == expected
    for db, name in expected:   # and each one listed opens
        assert (await demo_ds.client.get(f"/{db}/{name}", actor=actor(role))).status_code == 200, name


@pytest.mark.asyncio
async def test_more_than_five_reports_reachable_by_a_manager(demo_ds):
    """Datasette's database page shows five and links the rest to an admin-only page."""
    response = await demo_ds.client.get("/-/reports", actor=actor("manager"))
    assert len(_listed(response.text)) > 5
    assert "expiring_confidentiality_agreements" not in response.text   # hr's, not the manager's


@pytest.mark.asyncio
async def test_the_menu_links_to_the_reports_and_the_database_list_leads_there(demo_ds):
    home = await demo_ds.client.get("/", actor=actor("viewer"))
    assert 'href="/-/reports"' in home.text and ">报表<" in home.text
    more = await demo_ds.client.get("/ops/-/queries", actor=actor("viewer"))
    assert more.status_code == 302 and more.headers["location"] == "/-/reports#db-ops"
    # the JSON list stays an administrator's
    assert (await demo_ds.client.get("/ops/-/queries.json", actor=actor("viewer"))).status_code == 403


@pytest.mark.asyncio
async def test_finding_a_report_in_simplified_or_traditional(demo_ds):
    simplified = await demo_ds.client.get("/-/reports?q=评估", actor=actor("manager"))
    traditional = await demo_ds.client.get("/-/reports?q=評估", actor=actor("manager"))
    assert ("ops", "partner_evaluation_ranking") in _listed(simplified.text)
    assert _listed(traditional.text) == _listed(simplified.text)
    assert ("ops", "customer_tier_overview") not in _listed(simplified.text)
    nothing = await demo_ds.client.get("/-/reports?q=没有这种报表", actor=actor("manager"))
    assert _listed(nothing.text) == set() and "没有标题或说明含" in nothing.text


@pytest.mark.asyncio
async def test_anonymous_is_sent_to_log_in(demo_ds):
    response = await demo_ds.client.get("/-/reports")
    assert response.status_code == 302 and "/-/login" in response.headers["location"]
