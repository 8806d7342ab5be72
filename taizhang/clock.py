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


def now() -> datetime.datetime:
    return datetime.datetime.now(timezone())


def today() -> datetime.date:
    return now().date()


def utc_now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
