"""Edit conflicts for the JSON write API: a client that sends the version of the row it read —
the row's `updated_at`, in an `If-Match` header — has its update refused when someone changed
the row since: "此记录已被 X 于 HH:MM 修改", naming the fields that changed. A client that sends no
version keeps last-write-wins."""

import re
import sqlite3

from datasette import hookimpl
from datasette.utils import tilde_decode

from taizhang.conflicts import conflict
from taizhang.web import definition

UPDATE_PATH = re.compile(r"^/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<pk>[^/]+)/-/(update|delete)$")


@hookimpl
def write_wrapper(datasette, database, request, transaction):
    if request is None or database not in definition().databases:
        return None
    version = request.headers.get("if-match", "").strip().strip('"')
    match = UPDATE_PATH.match(request.path)
    if not version or not match:
        return None
    table, pk = tilde_decode(match["table"]), tilde_decode(match["pk"])

    def checked(conn):
        sentence = conflict(conn, table, pk, version)
        if sentence:
            raise sqlite3.IntegrityError(sentence)
        yield

    return checked
