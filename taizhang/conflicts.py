"""Edit conflicts: has a row changed since someone read it (at `version`, its updated_at)?
The sentence names who changed it, when (local time) and which fields."""

from __future__ import annotations

import datetime
import json

from taizhang import clock
from taizhang.audit import LOG
from taizhang.registers import load as definition
from taizhang.schema import quote


# What the JSON API adds: its client can reload or send again without If-Match. The form and
# the grid have their own buttons, so they say only what changed (changed_since).
ADVICE = "请重新载入后再改，或不带 If-Match 重新提交以覆盖。"


class Stale(Exception):
    """A write refused because the row changed since it was read: `changed` is the sentence
    saying by whom, when and what (changed_since), without the API's advice."""

    def __init__(self, changed: str):
        super().__init__(f"{changed}{ADVICE}")
        self.changed = changed


def conflict(conn, table: str, row_id, version: str) -> str | None:
    """The sentence refusing a write based on `version`, or None when the row is unchanged."""
    changed = changed_since(conn, table, row_id, version)
    return f"{changed}{ADVICE}" if changed else None


def changed_since(conn, table: str, row_id, version: str) -> str | None:
    """Who changed the row since `version` (its updated_at then), when and which fields, as a
    sentence; None when it is unchanged."""
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
    return f"此记录已被 {actor} 于 {when} 修改" + (f"（改动了：{changed}）" if changed else "") + "。"


def _parse(at: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(at.replace("Z", "+00:00"))
