"""Magic parameters for today's date in the configured time zone: `:_tz_today` (and
`:_tz_now`), so stored queries never use SQLite's UTC date('now')."""

from datasette import hookimpl

from taizhang import clock


def _tz(key, request):
    if key == "today":
        return clock.today().isoformat()
    if key == "now":
        return clock.now().strftime("%Y-%m-%d %H:%M")
    raise KeyError(key)


@hookimpl
def register_magic_parameters():
    return [("tz", _tz)]
