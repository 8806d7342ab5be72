"""Edit conflicts for the JSON write API: a client that sends the version of the row it read —
the row's `updated_at`, in an `If-Match` header — has its update refused when someone changed
the row since: "此记录已被 X 于 HH:MM 修改", naming the fields that changed. A client that sends no
version keeps last-write-wins."""

import datetime
import json
import re
import sqlite3

from datasette import hookimpl
from datasette.utils import tilde_decode

from taizhang import clock
from taizhang.audit import LOG
from taizhang.schema import quote
from taizhang.web import definition

UPDATE_PATH = re.compile(r"^/(?P<database>[^/]+)/(?P<table>[^/]+)/(?P<pk>[^/]+)/-/(update|delete)$")


def conflict(conn, table: str, row_id, version: str) -> str | None:
    """The sentence refusing a write based on `version`, or None when the row is unchanged."""
    row = conn.execute(f"SELECT updated_at FROM {quote(table)} WHERE id = ?", [row_id]).fetchone()
    if row is None or row[0] == version:
        return None
    changes = conn.execute(
        f"SELECT actor, at, before, after FROM {LOG} WHERE table_name = ? AND row_id = ? AND at >= ?"
        " AND operation = 'update' ORDER BY id", [table, row_id, version.replace("Z", "")]).fetchall()
    if not changes:
        changes = conn.execute(
            f"SELECT actor, at, before, after FROM {LOG} WHERE table_name = ? AND row_id = ? ORDER BY id DESC LIMIT 1",
            [table, row_id]).fetchall()
    actor, at = (changes[-1][0] or "（未署名）", changes[-1][1]) if changes else ("（未知）", row[0])
    fields = []
    for _, _, before, after in changes:
        old, new = json.loads(before or "{}"), json.loads(after or "{}")
        fields += [k for k in new if k not in ("updated_at", "created_at") and old.get(k) != new.get(k)]
    when = clock.now(_parse(at)).strftime("%H:%M") if at else ""
    changed = "、".join(dict.fromkeys(definition().column_label(table, f) for f in fields))
    return (f"此记录已被 {actor} 于 {when} 修改" + (f"（改动了：{changed}）" if changed else "")
            + "。请重新载入后再改，或不带 If-Match 重新提交以覆盖。")


def _parse(at: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))


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
