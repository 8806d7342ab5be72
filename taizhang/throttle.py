"""Password throttling from the attempts recorded in users.db: after MAX_FAILURES failed
password checks for one username (existing or not) or from one address within WINDOW — at
/-/login or at /-/account's current-password check alike — further checks are refused until
the oldest of them leaves the window. Successful checks never count. Being kept in the user
store, the count survives a restart.

An attempt is recorded *before* its password is verified, in the same write transaction that
counts the earlier ones (BEGIN IMMEDIATE): requests arriving together cannot all read the count
before any of them is recorded, because hashing runs in a thread pool while the next request is
already being counted. The attempt counts as a failure until `finish` says it succeeded."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from taizhang.users import UserStore

MAX_FAILURES = 10
WINDOW = datetime.timedelta(minutes=15)
PENDING = "password_attempt"   # recorded, not yet verified: counted as a failure
FAILED = "login_failed"
# What an attempt of each kind is recorded as once verified, or when refused unchecked.
OUTCOMES = {
    "login": {"right": "login", "wrong": FAILED, "throttled": "login_throttled"},
    "account": {"right": "password_checked", "wrong": FAILED, "throttled": "password_check_throttled"},
}


@dataclass(frozen=True)
class Attempt:
    kind: str
    event_id: int | None   # None: refused without checking
    retry_after: int       # seconds until a check is allowed again; 0 when allowed

    @property
    def refused(self) -> bool:
        return self.event_id is None


def _format(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _wait(conn, username: str | None, ip: str | None, now: datetime.datetime) -> int:
    since = _format(now - WINDOW)
    wait = 0
    for column, value in (("username", username), ("ip", ip)):
        if value is None:
            continue
        rows = conn.execute(
            f"SELECT at FROM auth_events WHERE event IN (?, ?) AND {column} = ? AND at > ?"
            " ORDER BY at DESC LIMIT ?",
            [FAILED, PENDING, value, since, MAX_FAILURES],
        ).fetchall()
        if len(rows) >= MAX_FAILURES:
            oldest = datetime.datetime.strptime(rows[-1][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
            wait = max(wait, int((oldest + WINDOW - now).total_seconds()) + 1)
    return wait


def retry_after(store: UserStore, username: str | None, ip: str | None, now: datetime.datetime | None = None) -> int:
    """Seconds until another attempt is allowed for this username and address; 0 = now."""
    return _wait(store.conn, username, ip, now or datetime.datetime.now(datetime.timezone.utc))


def begin(store: UserStore, kind: str, username: str | None, ip: str | None,
          now: datetime.datetime | None = None) -> Attempt:
    """Count and record one password check atomically: refused (and recorded as such) when
    the limit is reached, else recorded as pending."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        wait = _wait(conn, username, ip, now)
        event = OUTCOMES[kind]["throttled"] if wait else PENDING
        cursor = conn.execute("INSERT INTO auth_events (at, username, event, ip) VALUES (?, ?, ?, ?)",
                              [_format(now), username, event, ip])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Attempt(kind, None if wait else cursor.lastrowid, wait)


def finish(store: UserStore, attempt: Attempt, right: bool) -> None:
    """The verified outcome of a pending attempt: a right password stops counting."""
    if attempt.refused:
        return
    store.conn.execute("UPDATE auth_events SET event = ? WHERE id = ? AND event = ?",
                       [OUTCOMES[attempt.kind]["right" if right else "wrong"], attempt.event_id, PENDING])

