"""Password throttling from the attempts recorded in users.db: after MAX_FAILURES failed
password checks for one username (existing or not) or from one address within WINDOW — at
/-/login or at /-/account's current-password check alike — further checks are refused until
the oldest of them leaves the window. Successful checks never count. Being kept in the user
store, the count survives a restart.

An attempt is recorded *before* its password is verified, in the same write transaction that
counts the earlier ones (BEGIN IMMEDIATE): requests arriving together cannot all read the count
before any of them is recorded, because hashing runs in a thread pool while the next request is
already being counted. An attempt still being checked holds a place under the limit: a request
that finds the limit reached only by attempts in flight waits for them (`admit`) instead of being
refused, so ten colleagues logging in at once from one office address are not turned away, while
twenty wrong passwords at once still count twenty. An attempt left pending (a crash mid-check)
counts as a failure once it is older than STALE."""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass

from taizhang.users import UserStore

MAX_FAILURES = 10
WINDOW = datetime.timedelta(minutes=15)
PENDING = "password_attempt"   # recorded, not yet verified
STALE = datetime.timedelta(minutes=1)   # a pending attempt older than this failed (a crash)
PATIENCE = 10.0   # seconds a request waits for the attempts in flight before counting them as failures
POLL = 0.05
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
    busy: bool = False     # the limit is reached only by attempts in flight: ask again shortly

    @property
    def refused(self) -> bool:
        return self.event_id is None and not self.busy


def _format(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _wait(conn, username: str | None, ip: str | None, now: datetime.datetime,
          in_flight_fail: bool = True) -> tuple[int, bool]:
    """(seconds until a check is allowed, 0 = now; whether attempts in flight alone fill the
    limit). With `in_flight_fail`, attempts in flight count as failures."""
    since, stale = _format(now - WINDOW), _format(now - STALE)
    wait, busy = 0, False
    for column, value in (("username", username), ("ip", ip)):
        if value is None:
            continue
        rows = conn.execute(
            f"SELECT at, event = ? AND at > ? FROM auth_events WHERE event IN (?, ?) AND {column} = ? AND at > ?"
            " ORDER BY at DESC",
            [PENDING, stale, FAILED, PENDING, value, since],
        ).fetchall()
        failed = [at for at, in_flight in rows if in_flight_fail or not in_flight]
        if len(failed) >= MAX_FAILURES:
            oldest = datetime.datetime.strptime(failed[MAX_FAILURES - 1], "%Y-%m-%dT%H:%M:%SZ")
            wait = max(wait, int((oldest.replace(tzinfo=datetime.timezone.utc) + WINDOW - now).total_seconds()) + 1)
        elif len(rows) >= MAX_FAILURES:
            busy = True
    return wait, busy and not wait


def retry_after(store: UserStore, username: str | None, ip: str | None, now: datetime.datetime | None = None) -> int:
    """Seconds until another attempt is allowed for this username and address; 0 = now."""
    return _wait(store.conn, username, ip, now or datetime.datetime.now(datetime.timezone.utc))[0]


def begin(store: UserStore, kind: str, username: str | None, ip: str | None,
          now: datetime.datetime | None = None, patient: bool = True) -> Attempt:
    """Count and record one password check atomically: refused (and recorded as such) when
    the limit is reached, else recorded as pending — or, while `patient`, busy (nothing
    recorded) when only attempts in flight fill the limit."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        wait, busy = _wait(conn, username, ip, now, in_flight_fail=not patient)
        if busy:
            conn.execute("COMMIT")
            return Attempt(kind, None, 0, busy=True)
        event = OUTCOMES[kind]["throttled"] if wait else PENDING
        cursor = conn.execute("INSERT INTO auth_events (at, username, event, ip) VALUES (?, ?, ?, ?)",
                              [_format(now), username, event, ip])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Attempt(kind, None if wait else cursor.lastrowid, wait)


async def admit(store: UserStore, kind: str, username: str | None, ip: str | None) -> Attempt:
    """`begin`, waiting (up to PATIENCE) while attempts in flight fill the limit; past that,
    they count as failures."""
    deadline = time.monotonic() + PATIENCE
    while (attempt := begin(store, kind, username, ip, patient=time.monotonic() < deadline)).busy:
        await asyncio.sleep(POLL)
    return attempt


def finish(store: UserStore, attempt: Attempt, right: bool) -> None:
    """The verified outcome of a pending attempt: a right password stops counting."""
    if attempt.refused:
        return
    store.conn.execute("UPDATE auth_events SET event = ? WHERE id = ? AND event = ?",
                       [OUTCOMES[attempt.kind]["right" if right else "wrong"], attempt.event_id, PENDING])

