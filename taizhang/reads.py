"""Which database calls read confidential data: SQLite's authorizer reports every column a
statement reads, wherever the statement came from (a core page, a plugin, a stored query, SQL
typed by a user), so no caller has to remember to say it read something.

`watched(fn, tables, seen)` runs `fn(conn)` with an authorizer that notes, in the set `seen`,
the confidential tables whose columns were read, and only when the call returned rows of
values: a filter that matched nothing, or a count (the table page's "12 rows", also under a
filter), shows nothing confidential. Not so for SQL the reader wrote: there a "count" can carry a
value (`select unicode(scope) + 0*count(*) …`) and a filtered one is an oracle, so the caller says
(`counts_show_nothing=False`) when any result that read confidential columns counts as shown."""

from __future__ import annotations

import sqlite3
from typing import Callable

from taizhang.audit import LOG
from taizhang.registers import Definition


def confidential_tables(definition: Definition) -> dict[str, set[str]]:
    """Database → the tables whose values are confidential: its confidential registers and the
    audit log holding copies of their rows."""
    tables: dict[str, set[str]] = {}
    for reg in definition.registers.values():
        if reg.confidential:
            tables.setdefault(reg.database, {LOG}).add(reg.name)
    return tables


def _is_a_count(result) -> bool:
    rows = getattr(result, "rows", None)
    return rows is not None and len(rows) == 1 and len(rows[0]) == 1 and isinstance(rows[0][0], int)


def _returned_rows(result) -> bool:
    rows = getattr(result, "rows", result)   # a query's results, or what a callable returned
    if rows is None or isinstance(rows, (bool, int)):
        return bool(rows)
    try:
        return len(rows) > 0
    except TypeError:
        return True   # something built from what was read (a workbook, an object)


def watched(fn: Callable, tables: set[str], seen: set[str], counts_show_nothing: bool = True,
            denied: Callable[[str], bool] | None = None, refused: Callable[[str], Exception] | None = None) -> Callable:
    """`denied(table)`: tables this call may not read at all (row-level access refuses SQL a
    narrowed reader wrote, taizhang/row_access.py); the call then raises `refused(table)`."""
    lowered = {t.lower() for t in tables}

    def run(conn: sqlite3.Connection):
        read: set[str] = set()
        counted = []
        refusals: list[str] = []

        def authorizer(action, table, column, _schema, _trigger):
            if denied and action == sqlite3.SQLITE_READ and denied(table):
                refusals.append(table)   # count(*) included: a count of rows one may not see
                return sqlite3.SQLITE_DENY
            # count(*) reads a table with an empty column name: a number, not a value.
            if action == sqlite3.SQLITE_READ and column and table and table.lower() in lowered:
                read.add(table)
            elif action == sqlite3.SQLITE_FUNCTION and (column or "").lower() == "count":
                counted.append(True)
            return sqlite3.SQLITE_OK

        # Setting an authorizer expires the connection's prepared statements, so a statement
        # from the cache is prepared again and reported too.
        conn.set_authorizer(authorizer)
        try:
            result = fn(conn)
        except sqlite3.DatabaseError as ex:
            if refusals and refused:
                raise refused(refusals[0]) from ex
            raise
        finally:
            conn.set_authorizer(None)
        if read and _returned_rows(result) and not (counts_show_nothing and counted and _is_a_count(result)):
            seen.update(read)
        return result

    return run
