"""Core's query parameters checked before core reads them: the values Datasette 1.0a41 would
fail on with a 500 (it calls int() and json.loads() on them unguarded, or hands a null byte to
SQLite) are refused with 400 and a sentence naming the parameter, the value and what to send.
Only the shape of a value is checked here, so the answer says nothing about what a table holds;
a column name that does not exist fails in SQLite after the permission check (route_guard)."""

import json
import urllib.parse

from datasette import hookimpl

from taizhang.web import refusal

SHOWN = 40   # characters of a value quoted back


def _quoted(value: str) -> str:
    return value if len(value) <= SHOWN else value[:SHOWN] + "…"


def _integer(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 9


def _json_object(value: str, keys=()) -> bool:
    try:
        parsed = json.loads(value)
    except ValueError:
        return False
    return isinstance(parsed, dict) and all(isinstance(parsed.get(k), str) for k in keys)


def _json_list(value: str) -> bool:
    try:
        return isinstance(json.loads(value), list)
    except ValueError:
        return False


# Core's parameters it reads with int() ("²" passes its str.isdigit() check, then int() fails).
INTEGERS = {"_timelimit": "毫秒数", "_ttl": "缓存秒数"}


def _problem(name: str, value: str) -> str | None:
    """What is wrong with one parameter, as a sentence (None: nothing core would fail on)."""
    if "\x00" in name or "\x00" in value:
        return f"参数「{_quoted(name)}」含有空字符（%00），请删去后重试"
    if name in INTEGERS and value and not _integer(value):
        return f"参数 {name} 应为{INTEGERS[name]}（不大于 9 位的非负整数），收到「{_quoted(value)}」"
    if name == "_through" and not _json_object(value, ("table", "column")):
        return ('参数 _through 应为 JSON 对象，如 {"table": "表名", "column": "列名", "value": "值"}，'
                f"收到「{_quoted(value)}」")
    if (name == "_facet" or name.startswith("_facet_")) and value.startswith("{") and not _json_object(value):
        return f"参数 {_quoted(name)} 的值以 {{ 开头，应为 JSON 对象，收到「{_quoted(value)}」"
    if name.endswith("__in") and value.startswith("[") and not _json_list(value):
        return f"参数 {_quoted(name)} 的值以 [ 开头，应为 JSON 数组，如 [\"甲\", \"乙\"]，收到「{_quoted(value)}」"
    return None


# Pages of core's that read a parameter as JSON of a given shape (the permission debugger).
JSON_OBJECT_PAGES = {"/-/allow-debug": ("actor", "allow")}
# Core compares the root login token with secrets.compare_digest, which fails on non-ASCII text.
ASCII_PAGES = {"/-/auth-token": ("token",)}


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def check_params(scope, receive, send):
            if scope["type"] == "http" and scope.get("query_string"):
                path = scope["path"]
                pairs = urllib.parse.parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True,
                                               encoding="utf-8", errors="replace")
                message = next(filter(None, (_problem(n, v) for n, v in pairs)), None)
                if message is None and path in JSON_OBJECT_PAGES:
                    message = next((f"参数 {n} 应为 JSON 对象，收到「{_quoted(v)}」" for n, v in pairs
                                    if n in JSON_OBJECT_PAGES[path] and v and not _json_object(v)), None)
                if message is None and path in ASCII_PAGES:
                    message = next((f"参数 {n} 无效" for n, v in pairs if n in ASCII_PAGES[path] and not v.isascii()), None)
                if message:
                    return await refusal(path, 400, message).asgi_send(send)
            await app(scope, receive, send)

        return check_params

    return wrap
