"""Every write through Datasette: foreign keys enforced, cross-file references (hr.db ->
ops.db) checked in the same transaction, and constraint errors rewritten in Chinese."""

import sqlite3

from datasette import hookimpl

from taizhang import xref
from taizhang.messages import explain
from taizhang.web import definition


@hookimpl
def prepare_connection(conn):
    # SQLite enforces foreign keys per connection, and only when asked.
    conn.execute("PRAGMA foreign_keys = ON")


def _lookup_connection(datasette, database: str) -> sqlite3.Connection | None:
    """A read-only connection to the file holding the targets of this database's references."""
    targets = {
        definition().registers[ref["register"]].database
        for reg in definition().registers_in(database)
        for ref in reg.cross_references.values()
    }
    if not targets:
        return None
    (target,) = targets  # one file of targets: ops.db
    path = datasette.get_database(target).path
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


@hookimpl
def write_wrapper(datasette, database, request, transaction):
    if database not in definition().databases:
        return None
    has_references = any(r.cross_references for r in definition().registers_in(database))

    def checked_write(conn):
        if has_references:
            xref.clear_queue(conn)
        try:
            yield
        except sqlite3.IntegrityError as ex:
            raise sqlite3.IntegrityError(explain(str(ex), definition())) from ex
        if has_references:
            lookup = _lookup_connection(datasette, database)
            try:
                problems = xref.dangling(conn, lookup, definition(), database, only_queued=True)
            finally:
                lookup.close()
            xref.clear_queue(conn)
            if problems:
                raise sqlite3.IntegrityError("；".join(problems))

    return checked_write
