"""Who is asking: sessions from the project's user store, checked on every request.

Login uses datasette-auth-passwords' form and flow (/-/login, its password_login.html
template), but passwords are checked against users.db, not the plugin's account list that is
read once at start-up. The session cookie holds a random token; the user and role behind it
are looked up on each request, so removing a user, changing a role or logging out takes effect
at the next request.
"""

import re
from urllib.parse import urlencode

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, Response

from taizhang import throttle
from taizhang.web import (SESSION_COOKIE, actor_for, check_password, client_ip, safe_next, start_session,
                          user_store)


@hookimpl
def startup(datasette):
    async def warm_up():
        # The dummy hash unknown usernames are checked against is made now, not on the first
        # unknown login, which would otherwise be measurably slower than the rest.
        await check_password(None, "warm-up")

    return warm_up


@hookimpl
def actor_from_request(datasette, request):
    return actor_for(datasette, request)


# An Authorization header is either absent or a well-formed bearer token; anything else
# (Basic credentials, garbage) is refused before any plugin tries to parse it.
WELL_FORMED_AUTHORIZATION = re.compile(r"^Bearer [A-Za-z0-9_.\-]+$")
STATIC_PREFIXES = ("/-/static/", "/-/static-plugins/", "/assets/")


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def guarded(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            headers = dict(scope.get("headers") or [])
            authorization = headers.get(b"authorization")
            if authorization is not None and not WELL_FORMED_AUTHORIZATION.match(
                authorization.decode("latin-1")
            ):
                return await Response.text(
                    "401 无法识别 Authorization 请求头：请使用 Bearer <令牌>（Authorization header not understood: use Bearer <token>）",
                    status=401,
                    headers={"www-authenticate": 'Bearer realm="taizhang"'},
                ).asgi_send(send)
            if scope["path"].startswith(STATIC_PREFIXES):
                return await app(scope, receive, send)

            async def no_store(message):
                # Pages show data that depends on who asks: never kept by shared caches or the
                # browser's back-forward history.
                if message["type"] == "http.response.start":
                    kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                    message = {**message, "headers": [*kept, (b"cache-control", b"private, no-store")]}
                await send(message)

            await app(scope, receive, no_store)

        return guarded

    return wrap


async def login(request, datasette):
    store = user_store(datasette)
    error = None
    username = ""
    next_url = request.args.get("next")
    if request.method == "POST":
        post = await request.post_vars()
        username = (post.get("username") or "").strip()
        password = post.get("password") or ""
        next_url = post.get("next") or next_url
        # Counted and recorded before the (slow, off-loop) check: simultaneous attempts cannot
        # all pass the limit, and a right password beyond it is refused like any other.
        attempt = await throttle.admit(store, "login", username or None, client_ip(request))
        if attempt.refused:
            wait = attempt.retry_after
            return await _login_page(
                datasette, request, f"登录失败次数过多，请在 {(wait + 59) // 60} 分钟后再试",
                username, next_url, status=429, headers={"Retry-After": str(wait)},
            )
        password_hash = store.password_hash(username)
        ok = await check_password(password_hash, password)
        user = store.get(username) if ok else None
        throttle.finish(store, attempt, right=user is not None)
        if user:
            response = Response.redirect(safe_next(datasette, next_url))
            start_session(datasette, request, response, user.username)
            return response
        # The same words whether the user exists or not.
        error = "用户名或密码不正确"
    return await _login_page(datasette, request, error, username, next_url, status=401 if error else 200)


async def _login_page(datasette, request, error, username, next_url, status=200, headers=None):
    return Response.html(
        await datasette.render_template(
            "password_login.html",
            {"error": error, "username": username, "next": next_url or ""},
            request=request,
        ),
        status=status,
        headers=headers,
    )


async def logout(request, datasette):
    if request.method == "POST":
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            store = user_store(datasette)
            if request.actor:
                store.record("logout", request.actor["id"], client_ip(request))
            store.end_session(token)
        response = Response.redirect(datasette.urls.path("/-/login"))
        response.set_cookie(SESSION_COOKIE, "", expires=0, max_age=0, path=datasette.urls.path("/"))
        return response
    return Response.html(await datasette.render_template("logout.html", {}, request=request))


async def password_tool(request, datasette):
    # datasette-auth-passwords' hashing page: not used here (users.db has its own argon2id
    # hashes), so it is closed rather than left open to anonymous visitors.
    raise Forbidden("密码在“用户管理”页面设置")


@hookimpl
def register_routes():
    return [
        (r"^/-/login$", login),
        (r"^/-/logout$", logout),
        (r"^/-/password-tool$", password_tool),
    ]


@hookimpl
def forbidden(datasette, request, message):
    """Anonymous visitors of a page are sent to the login form instead of a bare 403."""
    if request.actor or request.method != "GET":
        return None
    path = request.path
    if path.endswith((".json", ".csv")) or "application/json" in request.headers.get("accept", ""):
        return None
    target = path + (f"?{request.query_string}" if request.query_string else "")
    return Response.redirect(datasette.urls.path("/-/login") + "?" + urlencode({"next": target}))


@hookimpl
def menu_links(datasette, actor, request):
    if actor:
        return [{"href": datasette.urls.path("/-/logout"), "label": "退出登录"}]
    return None
