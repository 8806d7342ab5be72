"""One configured time zone decides "today" for reports, demo data and messages.

SQLite's date('now') is UTC, a day behind Shanghai every morning before 08:00, so reports
take today's date as a parameter computed here.
"""

from __future__ import annotations

import datetime
import os
import zoneinfo

from taizhang.registers import load


def timezone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(os.environ.get("TAIZHANG_TIMEZONE") or load().instance["timezone"])


def now(at: datetime.datetime | None = None) -> datetime.datetime:
    """The local time of the configured zone, now or at an aware UTC instant."""
    return (at or datetime.datetime.now(datetime.timezone.utc)).astimezone(timezone())


def today(at: datetime.datetime | None = None) -> datetime.date:
    return now(at).date()


def utc_now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
