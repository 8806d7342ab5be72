"""A row page is titled by the row's name (its label column, 张三（00012）), not its id."""

from datasette import hookimpl

from taizhang import choices
from taizhang.web import definition


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    reg = definition().registers.get(table or "")
    if view_name != "row" or request is None or reg is None or reg.database != database:
        return {}
    pks = request.url_vars.get("pks", "")
    if not pks.isdigit():
        return {}

    async def row_title():
        # The row view shows this page only to a reader who may see the row (plugins/row_access.py).
        return {"row_title": await choices.title(datasette.get_database(database), reg, int(pks))}

    return row_title
