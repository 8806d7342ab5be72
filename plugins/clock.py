"""Magic parameters for the configured time zone: `:_tz_today` ('YYYY-MM-DD'), `:_tz_now`
('YYYY-MM-DD HH:MM', for datetime deadlines) and `:_tz_offset` ('+480 minutes', to read the
audit log's UTC times as local ones), so stored queries never use SQLite's UTC date('now').
The same values as taizhang.due.params() gives the SQL it runs itself."""

from datasette import hookimpl

from taizhang import clock, due


def _tz(key, request):
    if key == "today":
        return clock.today().isoformat()
    if key == "now":
        return clock.now().strftime("%Y-%m-%d %H:%M")
    if key == "offset":
        return due.offset(clock.now())
    raise KeyError(key)


@hookimpl
def register_magic_parameters():
    return [("tz", _tz)]
