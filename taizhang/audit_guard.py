"""No SQL the app runs on someone's behalf may write the audit tables.

An admin's `/-/execute-write`, a writable stored query or the JSON API (`/ops/_audit_log/-/insert`)
runs inside the app's own write transaction, between `audit.begin()` and `audit.finish()`: a row
it put into `_audit_log` would be sealed as the app's, one put into `_audit_context` would name
someone else as the writer. So for the whole of every audited write a SQLite authorizer refuses,
at prepare time, any insert, update or delete on the audit, seal, context and read-log tables,
and any DDL that would drop, rename or re-trigger them. The only writes it lets through are the
log rows the app's own audit triggers write and, for the app's own read logging, a plain insert
into `_read_log`. "The app's own" triggers are those whose SQL is exactly what the app generates
for the table as it is now (given by the caller): a trigger planted or rewritten by the file's
owner — under the app's `tz_audit_` names or any other — cannot write the log while the app
writes, so it cannot slip forged rows into a sealed transaction.

It also refuses creating a trigger under the app's `tz_` prefix or a temporary trigger (which
would live on, unseen, on the shared write connection) and `PRAGMA writable_schema`. Core already
refuses most DDL on these tables through its own permissions; the guard does not rely on that.

The audit module's own statements (the context row, the seal) run before the guard is put on
and after it is taken off (a guard left by a write that failed is taken off at the next begin).
Setting an authorizer expires every prepared statement of the connection, so a statement cached
before the guard is checked again under it. (`set_authorizer(None)` needs Python 3.11.)
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from taizhang.schema import TRIGGER_PREFIX

# The tables the guard protects, and what they are called in a refusal.
LOG, SEAL, CONTEXT, READ_LOG = "_audit_log", "_audit_seal", "_audit_context", "_read_log"
LABELS = {LOG: "审计日志", SEAL: "审计封存记录", CONTEXT: "审计上下文", READ_LOG: "保密台账查阅记录"}
# sqlite_sequence's counters of the log and the seals are how verify finds a cut tail: the
# authorizer cannot see which of its rows a statement writes (core's table transform rewrites a
# register's), so audit.finish() compares those two rows with what the write should have left.
SEQUENCE = "sqlite_sequence"
SEQUENCE_LABEL = "审计日志的自增序号"

_WRITES = {sqlite3.SQLITE_INSERT: "insert", sqlite3.SQLITE_UPDATE: "update", sqlite3.SQLITE_DELETE: "delete"}
_DDL_ON_TABLE = {  # action -> (argument holding the table, kind)
    sqlite3.SQLITE_DROP_TABLE: (0, "drop"),
    sqlite3.SQLITE_DROP_TEMP_TABLE: (0, "drop"),
    sqlite3.SQLITE_ALTER_TABLE: (1, "alter"),
    sqlite3.SQLITE_DROP_TRIGGER: (1, "drop_trigger"),
    sqlite3.SQLITE_DROP_TEMP_TRIGGER: (1, "drop_trigger"),
    sqlite3.SQLITE_CREATE_TRIGGER: (1, "create_trigger"),
}
VERBS = {
    "insert": "写入", "update": "修改", "delete": "删除", "drop": "删除表", "alter": "改动表结构",
    "drop_trigger": "删除触发器", "create_trigger": "创建触发器", "temp_trigger": "创建临时触发器",
    "writable_schema": "直接改写数据库结构（writable_schema）",
    "foreign_trigger": "经由不是应用生成的触发器写入",
}


@dataclass(frozen=True)
class Refusal:
    kind: str                   # a key of VERBS
    table: str | None           # the protected table, when there is one
    trigger: str | None = None  # for foreign_trigger: the trigger's name


class ProtectedTableRefused(sqlite3.DatabaseError):
    """A statement the guard refused, with what it tried (kind, table, trigger) as data."""

    def __init__(self, refusal: Refusal):
        self.refusal = refusal
        label = SEQUENCE_LABEL if refusal.table == SEQUENCE else LABELS.get(refusal.table)
        what = f"{label}（{refusal.table}）" if refusal.table else "审计记录"
        if refusal.kind == "foreign_trigger":
            text = (f"不能写入{what if refusal.table else '数据'}：触发器 {refusal.trigger} 不是应用生成的，或已在应用之外被改动。"
                    "请管理员检查数据库是否被人改动，并运行 taizhang init 重建应用的触发器")
        else:
            text = (f"不能{VERBS[refusal.kind]}：{what}只能由应用在每次写入时自动记录，"
                    "任何人（包括管理员）都不能用 SQL 或接口直接改动。请改为修改台账本身的数据")
        super().__init__(text)


class Guard:
    """The authorizer of one write: the first refusal is kept, to be explained afterwards."""

    def __init__(self, audit_triggers: frozenset[str] = frozenset(), app_triggers: frozenset[str] = frozenset(),
                 may_log_reads: bool = False):
        self.audit_triggers = audit_triggers   # the app's own, as generated: they alone write the log
        self.app_triggers = app_triggers | audit_triggers   # all the app's own: the only ones that write
        self.may_log_reads = may_log_reads
        self.refused: Refusal | None = None

    def __call__(self, action, arg1, arg2, database, trigger):
        refusal = self._refusal(action, arg1, arg2, trigger)
        if refusal is None:
            return sqlite3.SQLITE_OK
        self.refused = self.refused or refusal
        return sqlite3.SQLITE_DENY

    def _refusal(self, action, arg1, arg2, trigger) -> Refusal | None:
        if action in _WRITES:
            if trigger is not None and trigger not in self.app_triggers:
                # A planted trigger writing a register would have the app's audit trigger log its
                # change as the writer's, sealed: no trigger but the app's own writes anything.
                return Refusal("foreign_trigger", arg1 if arg1 in LABELS else None, trigger)
            if arg1 not in LABELS:
                return None
            if action == sqlite3.SQLITE_INSERT and arg1 == LOG and trigger is not None:
                if trigger in self.audit_triggers:
                    return None   # the app's audit trigger writing the log: the one legitimate writer
                return Refusal("foreign_trigger", LOG, trigger)
            if action == sqlite3.SQLITE_INSERT and arg1 == READ_LOG and trigger is None and self.may_log_reads:
                return None
            return Refusal(_WRITES[action], arg1)
        if action == sqlite3.SQLITE_CREATE_TEMP_TRIGGER:
            # A temporary trigger lives on the shared write connection, unseen, across requests.
            return Refusal("temp_trigger", arg2 if arg2 in LABELS else None)
        if action in _DDL_ON_TABLE:
            index, kind = _DDL_ON_TABLE[action]
            table = (arg1, arg2)[index]
            if table in LABELS:
                return Refusal(kind, table)
            if action == sqlite3.SQLITE_CREATE_TRIGGER and (arg1 or "").startswith(TRIGGER_PREFIX):
                return Refusal("create_trigger", None)   # the prefix of the app's own triggers
            return None
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() == "writable_schema" and arg2 is not None:
            return Refusal("writable_schema", None)
        return None


# One guard per connection at most; keyed by id() because sqlite3 connections take no attributes.
_guards: dict[int, Guard] = {}


def install(conn: sqlite3.Connection, audit_triggers: frozenset[str], app_triggers: frozenset[str] = frozenset(),
            may_log_reads: bool = False) -> Guard:
    guard = _guards[id(conn)] = Guard(audit_triggers, app_triggers, may_log_reads)
    conn.set_authorizer(guard)
    return guard


def remove(conn: sqlite3.Connection) -> Refusal | None:
    """Take the guard off; returns what it refused, if anything."""
    conn.set_authorizer(None)
    guard = _guards.pop(id(conn), None)
    return guard.refused if guard else None


def explained(error: BaseException, refusal: Refusal | None) -> BaseException:
    """The error to raise for a failed write: the guard's Chinese refusal if it caused it."""
    if refusal is not None and isinstance(error, sqlite3.DatabaseError) and not isinstance(error, ProtectedTableRefused):
        return ProtectedTableRefused(refusal)
    return error
