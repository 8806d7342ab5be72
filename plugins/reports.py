"""报表: every report (stored query of datasette.yml) the reader may open, on one page linked from
every page's menu. Datasette's database page lists five and links the rest to /<db>/-/queries,
which only admins may open; this page is the one list for everybody, filtered by what each
login may open (the same view-query permission the report itself checks)."""

from datasette import hookimpl
from datasette.utils.asgi import Response

from taizhang import chinese
from taizhang.web import definition, may_query


def _matches(query: str, *texts: str) -> bool:
    """简体 or 繁體, in the title or the description."""
    wanted = chinese.to_simplified(query).casefold()
    return any(wanted in chinese.to_simplified(t or "").casefold() for t in texts)


async def reports_for(datasette, actor, query: str = "") -> list[dict]:
    """[{"database", "title", "reports": [{"name", "title", "description", "url"}]}] in the
    definition's database order, each database's reports in datasette.yml's order."""
    configured = (datasette.config or {}).get("databases", {})
    groups = []
    for database, spec in definition().databases.items():
        found = []
        for name, report in (configured.get(database, {}).get("queries") or {}).items():
            title = report.get("title") or name
            if query and not _matches(query, title, report.get("description")):
                continue
            if await may_query(datasette, actor, database, name):
                found.append({"name": name, "title": title, "description": report.get("description") or "",
                              "url": datasette.urls.query(database, name)})
        if found:
            groups.append({"database": database, "title": spec["title"], "reports": found})
    return groups


async def reports(request, datasette):
    actor = request.actor
    if not actor or not actor.get("roles"):
        return Response.redirect(datasette.urls.path("/-/login?next=/-/reports"))
    query = (request.args.get("q") or "").strip()
    groups = await reports_for(datasette, actor, query)
    return Response.html(await datasette.render_template(
        "reports.html", {"query": query, "groups": groups,
                         "count": sum(len(g["reports"]) for g in groups)}, request=request))


async def database_queries(request, datasette):
    """Core's "View N queries" link on a database page leads here, to the reports of that database."""
    return Response.redirect(datasette.urls.path("/-/reports") + f"#db-{request.url_vars['database']}")


@hookimpl
def register_routes():
    return [(r"^/-/reports$", reports), (r"^/(?P<database>[^/]+)/-/queries$", database_queries)]


@hookimpl
def menu_links(datasette, actor, request):
    if actor and actor.get("roles"):
        return [{"href": datasette.urls.path("/-/reports"), "label": "报表"}]
    return None
