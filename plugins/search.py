"""Chinese full-text search through Datasette's own ?_search=.

The search tables hold bigram text (taizhang/chinese.py); this plugin makes the query match:
Datasette's search filter calls the SQL function escape_fts(:search), which is replaced by a
Chinese-aware version. It also keeps the index current: drained after every write the app
makes (same transaction) and before any search, for writes made outside the app.
"""

from datasette import hookimpl

from taizhang import search
from taizhang.chinese import search_query
from taizhang.web import definition


# trylast: run after Datasette's own prepare_connection, which registers escape_fts.
@hookimpl(trylast=True)
def prepare_connection(conn):
    conn.create_function("escape_fts", 1, search_query, deterministic=True)


def _searchable(database: str) -> bool:
    return any(r.search for r in definition().registers_in(database))


@hookimpl
def write_wrapper(datasette, database, request, transaction):
    if not _searchable(database):
        return None

    def drain_after_write(conn):
        yield
        if not search.queue_is_empty(conn):
            search.drain(conn, definition())

    return drain_after_write


@hookimpl
def filters_from_request(request, database, table, datasette):
    reg = definition().registers.get(table)
    if reg is None or not reg.search or not any(k.startswith("_search") for k in request.args):
        return None

    async def drain_before_search():
        db = datasette.get_database(database)
        if not await db.execute_fn(search.queue_is_empty):
            await db.execute_write_fn(lambda conn: search.drain(conn, definition()))
        return None

    return drain_before_search
