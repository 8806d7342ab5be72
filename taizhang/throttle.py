"""Login throttling from the recorded failures in users.db: after MAX_FAILURES failed logins
for one username (existing or not) or from one address within WINDOW, /-/login answers 429
until the oldest of them leaves the window. Successful logins never count. Being kept in the
user store, the count survives a restart."""

from __future__ import annotations

import datetime

from taizhang.users import UserStore

MAX_FAILURES = 10
WINDOW = datetime.timedelta(minutes=15)


def retry_after(store: UserStore, username: str, ip: str | None, now: datetime.datetime | None = None) -> int:
    """Seconds until another attempt is allowed for this username and address; 0 = now."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    since = (now - WINDOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    wait = 0
    for column, value in (("username", username), ("ip", ip)):
        if value is None:
            continue
        rows = store.conn.execute(
            f"SELECT at FROM auth_events WHERE event = 'login_failed' AND {column} = ? AND at > ?"
            " ORDER BY at DESC LIMIT ?",
            [value, since, MAX_FAILURES],
        ).fetchall()
        if len(rows) >= MAX_FAILURES:
            oldest = datetime.datetime.strptime(rows[-1][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
            wait = max(wait, int((oldest + WINDOW - now).total_seconds()) + 1)
    return wait
