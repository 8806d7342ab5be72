"""Every write Datasette makes is recorded with who made it: the write_wrapper fills the audit
context at the start of the transaction, keeps the audit tables out of reach of the SQL it runs
(taizhang/audit_guard.py) and seals the new log rows before commit (see taizhang/audit.py). A
write that changed a table's columns regenerates the triggers, so the new column's changes are
recorded too. The chain head is recorded outside the file after commit: core dispatches the
events a write queued only once it has committed, so the head rides on one."""

import asyncio
import re
from dataclasses import dataclass

from datasette import hookimpl
from datasette.events import Event

from taizhang import audit, audit_guard, audit_head, derived
from taizhang.web import audit_key, definition


@dataclass
class AuditSealed(Event):
    """A write committed a seal: its head is to be recorded (not a user-facing event)."""

    name = "taizhang-audit-sealed"
    advance: audit_head.Advance | None = None


@hookimpl
def register_events(datasette):
    return [AuditSealed]


@hookimpl
def track_event(datasette, event):
    if not isinstance(event, AuditSealed) or not event.advance:
        return None

    async def record_head():
        # One small file written, fsynced and renamed (a few ms on a VM disk): off the event loop.
        await asyncio.get_running_loop().run_in_executor(None, event.advance.apply, audit_key(datasette))

    return record_head()

# Which door a write came through, by the path that asked for it.
SQL_PATH = re.compile(r"/-/execute-write$")
RESTORE_PATH = re.compile(r"^/-/history/.*/restore$")
# Core's JSON write API (/<db>/-/create, /<db>/<table>/-/insert, /<db>/<table>/<pk>/-/update …):
# `api` by the route, whatever authenticated it — a script holding a session cookie, and core's
# edit dialog, which posts to these same routes, included; the credential does not choose the door.
API_PATH = re.compile(r"^/[^/]+(/[^/]+){0,2}/-/(create|insert|upsert|update|delete|alter|drop|set-column-type)$")


def who(datasette, database: str, request) -> audit.Who:
    if request is None:
        return audit.Who(actor=None, role=None, source="app")
    actor = request.actor or {}
    path = request.path
    if RESTORE_PATH.match(path):
        source = "restore"
    elif SQL_PATH.search(path) or "/-/" not in path:  # /-/execute-write, or a writable stored query
        source = "sql"
    elif API_PATH.match(path) or request.headers.get("authorization", "").startswith("Bearer "):
        source = "api"
    else:
        source = "ui"
    roles = actor.get("roles") or []
    return audit.Who(
        actor=actor.get("id"),
        role=roles[0] if roles else None,
        source=source,
        request_path=path,
        note=request.scope.get("taizhang.audit_note"),
        employee_no=actor.get("employee_no"),
        roles=tuple(roles),
    )


def _schema_version(conn) -> int:
    return conn.execute("PRAGMA schema_version").fetchone()[0]


@hookimpl
def write_wrapper(datasette, database, request, transaction):
    # Without a transaction (VACUUM) there is nothing to attribute, and a context row could
    # outlive the write.
    if database not in definition().databases or not transaction:
        return None
    writer = who(datasette, database, request)
    key = audit_key(datasette)

    def audited_write(conn, track_event):
        version = _schema_version(conn)
        # (A lock timeout happens before this runs — core begins the transaction first — and is
        # answered in Chinese by plugins/integrity.py.)
        mark = audit.begin(conn, writer)
        try:
            yield
        except Exception as ex:
            explained = audit_guard.explained(ex, audit.release(conn))
            if explained is not ex:
                raise explained from ex
            raise
        audit.release(conn)   # before the app's own DDL below
        if _schema_version(conn) != version:
            derived.sync(conn, definition(), database)
        advance = audit.finish(conn, key, mark)
        if advance:
            track_event(AuditSealed(actor=None, advance=advance))

    return audited_write
