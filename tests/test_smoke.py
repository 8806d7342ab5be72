"""Every page staff use renders for the admin: home, each database, each register (HTML,
JSON, CSV), a row of each, each report, with the configured facets, sort and labels."""

import pytest
import yaml

from taizhang.datadir import REPO
from tests.conftest import actor

pytestmark = pytest.mark.fast

CONFIG = yaml.safe_load((REPO / "datasette.yml").read_text(encoding="utf-8"))
PAGES = ["/", "/-/login", "/-/logout"]
for database, db_config in CONFIG["databases"].items():
    PAGES.append(f"/{database}")
    for table, table_config in db_config["tables"].items():
        if "label_column" in table_config:  # a register, not its search table
            PAGES += [f"/{database}/{table}", f"/{database}/{table}.json", f"/{database}/{table}.csv",
                      f"/{database}/{table}/1"]
    PAGES += [f"/{database}/{name}" for name in db_config["queries"]]


@pytest.mark.asyncio
@pytest.mark.parametrize("path", PAGES)
async def test_page_renders_for_admin(demo_ds, path):
    response = await demo_ds.client.get(path, actor=actor("admin"))
    assert response.status_code == 200, response.text[:500]
    if not path.endswith((".json", ".csv")):
        assert "Traceback" not in response.text


@pytest.mark.asyncio
async def test_table_page_uses_labels_facets_and_sort(demo_ds):
    response = await demo_ds.client.get("/ops/partners", actor=actor("viewer"))
    text = response.text
    assert "合作伙伴档案" in text                                 # the register's title
    assert 'data-facet="category"' in text or "类别" in text
    data = (await demo_ds.client.get(
        "/ops/partners.json?_labels=on&_extra=facet_results&_size=5", actor=actor("viewer"))).json()
    assert set(data["facet_results"]["results"]) == {"category", "status"}
    owner = data["rows"][0]["owner_id"]
    assert isinstance(owner, dict) and owner["label"]              # a name, not a bare id
    names = [r["name"] for r in data["rows"]]
    assert names == sorted(names)


@pytest.mark.asyncio
async def test_every_facet_filter_and_sort_column_has_an_index(demo_ds):
    db = demo_ds.get_database("ops")
    for table, table_config in CONFIG["databases"]["ops"]["tables"].items():
        wanted = set(table_config.get("facets", [])) | {table_config.get("sort"), table_config.get("sort_desc")}
        for column in wanted - {None, "id"}:
            plan = await db.execute(f"EXPLAIN QUERY PLAN SELECT * FROM {table} ORDER BY {column} LIMIT 1")
            assert any("INDEX" in row["detail"] for row in plan.rows), (table, column)
