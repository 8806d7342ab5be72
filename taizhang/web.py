"""What the plugins share about the running instance: its data dir, user store and definition.
Kept out of plugins/ because Datasette loads each plugin file as its own module."""

from __future__ import annotations

import asyncio
import concurrent.futures
from urllib.parse import urlsplit

from datasette.resources import QueryResource, TableResource
from datasette.utils.asgi import Response
from datasette.tokens import TokenInvalid
from itsdangerous import BadSignature

from taizhang import people, row_access
from taizhang.audit import key_from_secret
from taizhang.datadir import DataDir
from taizhang.registers import Definition, load
from taizhang.schema import quote
from taizhang.users import SESSION_ABSOLUTE, UserStore, verify_password

SESSION_COOKIE = "tz_session"

# Password hashing is deliberately slow: it runs in a small pool, off the event loop, so a
# burst of logins cannot stall other requests.
HASH_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="password-hash")


async def check_password(password_hash: str | None, password: str) -> bool:
    return await asyncio.get_running_loop().run_in_executor(HASH_POOL, verify_password, password_hash, password)


def data_dir(datasette) -> DataDir:
    config = datasette.plugin_config("taizhang") or {}
    return DataDir.resolve(config.get("data_dir"))


def user_store(datasette) -> UserStore:
    store = getattr(datasette, "_taizhang_users", None)
    if store is None:
        store = data_dir(datasette).users(load())
        datasette._taizhang_users = store
    return store


def audit_key(datasette) -> bytes:
    key = getattr(datasette, "_taizhang_audit_key", None)
    if key is None:
        key = datasette._taizhang_audit_key = key_from_secret(data_dir(datasette).secret())
    return key


async def may(datasette, actor, action: str, database: str, table: str) -> bool:
    """May this actor do `action` (view-table, insert-row …) on this table?"""
    return await datasette.allowed(action=action, resource=TableResource(database=database, table=table), actor=actor)


async def may_query(datasette, actor, database: str, query: str) -> bool:
    """May this actor open this stored query (report)?"""
    return await datasette.allowed(action="view-query", resource=QueryResource(database=database, query=query), actor=actor)


def definition() -> Definition:
    return load()


def rows_condition(actor, table: str, alias: str = "") -> str | None:
    """The rows of `table` this actor reads, as SQL over the row (taizhang/row_access.py):
    None for every row, row_access.NONE for none."""
    return row_access.for_actor(definition(), table, actor, alias)


async def row_visible(datasette, actor, database: str, table: str, row_id) -> bool:
    """Is this row one the actor may see? (Whether they may read the register at all is `may`'s.)
    A row outside their scope answers like a missing one wherever this is asked."""
    condition = rows_condition(actor, table)
    if condition is None:
        return True
    found = await datasette.get_database(database).execute(
        f"select 1 from {quote(table)} where id = ? and {condition}", [row_id])
    return found.first() is not None


def client_ip(request) -> str | None:
    client = request.scope.get("client")
    return client[0] if client else None


def start_session(datasette, request, response, username: str) -> None:
    """A new session for `username`, its cookie set on `response`."""
    response.set_cookie(
        SESSION_COOKIE,
        user_store(datasette).start_session(username),
        max_age=int(SESSION_ABSOLUTE.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.scheme == "https",
        path=datasette.urls.path("/"),
    )


async def actor_for(datasette, request) -> dict | None:
    """The actor behind a request's session cookie or API token, with the role from the user
    store as it is now. An API token acts with its owner's current role, never more: a
    demoted user's tokens are demoted with them, a removed user's stop working."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        user = user_store(datasette).session_user(token)
        return await _with_derived_roles(datasette, user.actor()) if user else None
    authorization = request.headers.get("authorization", "")
    if not authorization.startswith("Bearer "):
        return None
    actor = await datasette.verify_token(authorization[len("Bearer "):])
    if actor is None:
        return None
    user = user_store(datasette).get(actor["id"])
    if user is None:
        raise TokenInvalid("令牌的所有者已不存在")
    return await _with_derived_roles(datasette, {**actor, **user.actor()})


async def _with_derived_roles(datasette, actor: dict) -> dict:
    """department_head and the like, from the registers as they are now (taizhang/people.py)."""
    if not actor.get("employee_no"):
        return actor
    database = definition().registers["employees"].database
    return await datasette.get_database(database).execute_fn(lambda conn: people.with_derived_roles(conn, actor))


async def resolve_actor(datasette, request) -> dict | None:
    """The actor, for code that runs before Datasette has resolved it (ASGI wrappers): ours
    (session, token) or Datasette's own signed ds_actor cookie; None for a bad credential."""
    try:
        actor = await actor_for(datasette, request)
    except TokenInvalid:
        return None
    if actor is None and "ds_actor" in request.cookies:
        try:
            decoded = datasette.unsign(request.cookies["ds_actor"], "actor")
        except BadSignature:
            return None
        actor = decoded.get("a") if isinstance(decoded, dict) else None
    return actor


# A dict the language plugin's ASGI wrapper puts in each request's scope: Datasette copies the
# scope shallowly, so what the page's hooks work out once is there for the wrapper too.
REQUEST_MEMO = "taizhang.memo"


async def language_of(datasette, request) -> str:
    """The page language: the logged-in user's choice (users.db) → the tz_lang cookie → 简体.
    Worked out once per request (the page's scripts and its rewrite all ask)."""
    memo = request.scope.get(REQUEST_MEMO)
    if memo is not None and "language" in memo:
        return memo["language"]
    from taizhang import i18n   # i18n reads the catalogues; only pages need it

    lang = None
    actor = await resolve_actor(datasette, request)
    if actor and actor.get("id") and not actor.get("token"):
        lang = i18n.valid(user_store(datasette).language(actor["id"]))
    lang = lang or i18n.valid(request.cookies.get(i18n.COOKIE)) or i18n.DEFAULT
    if memo is not None:
        memo["language"] = lang
    return lang


def safe_next(datasette, value: str | None) -> str:
    """Where to send someone back to: only a same-site path (no open redirect)."""
    default = datasette.urls.path("/")
    if not value:
        return default
    # Control characters refused outright: browsers drop tabs and newlines from a URL, so
    # "/\t\\evil.example" would become "/\\evil.example", read as "//evil.example".
    if any(ch < " " or ch == "\x7f" for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    return value


def refusal(path: str, status: int, message: str) -> Response:
    """A request refused before any view ran: JSON (core's error shape) for a .json path, else
    the sentence as text."""
    if path.endswith(".json"):
        return Response.json({"ok": False, "error": message, "errors": [message], "status": status}, status=status)
    return Response.text(message, status=status)
