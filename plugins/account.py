"""/-/account: change one's own password. /-/users: user management for admins — the same
operations as `taizhang user`, on the same store."""

from datasette import hookimpl
from datasette.utils.asgi import Forbidden, Response

from taizhang import throttle
from taizhang.users import UserError
from taizhang.web import check_password, client_ip, definition, start_session, user_store

# One answer for a wrong current password and for any password while throttled (the limits
# of taizhang/throttle.py; the sentence is also a key of db/translations.yml).
WRONG_CURRENT_PASSWORD = "当前密码不正确；失败 10 次后须等 15 分钟才能再试"


def _is_admin(actor) -> bool:
    return "admin" in ((actor or {}).get("roles") or [])


async def account(request, datasette):
    actor = request.actor
    if not actor or actor.get("token"):
        raise Forbidden("请先登录")
    store = user_store(datasette)
    if request.method == "POST":
        post = await request.post_vars()
        back = Response.redirect(datasette.urls.path("/-/account"))
        # The same throttle as /-/login (per account and per address): a stolen session must
        # not become a way to guess the password. The check runs even when throttled, and the
        # answer is the same, so neither its words nor its time tell a right password apart.
        attempt = await throttle.admit(store, "account", actor["id"], client_ip(request))
        right = await check_password(store.password_hash(actor["id"]), post.get("current", ""))
        throttle.finish(store, attempt, right=right)
        if attempt.refused or not right:
            datasette.add_message(request, WRONG_CURRENT_PASSWORD, datasette.ERROR)
            return back
        if post.get("new", "") != post.get("confirm", ""):
            datasette.add_message(request, "两次输入的新密码不一致", datasette.ERROR)
            return back
        try:
            store.set_password(actor["id"], post.get("new", ""))
        except UserError as ex:
            datasette.add_message(request, str(ex), datasette.ERROR)
            return back
        store.record("password_changed", actor["id"], client_ip(request))
        # Changing the password ended every session; this browser gets a fresh one.
        datasette.add_message(request, "密码已修改，其他设备上的登录已退出", datasette.INFO)
        start_session(datasette, request, back, actor["id"])
        return back
    user = store.get(actor["id"])
    return Response.html(await datasette.render_template(
        "account.html", {"user": user, "roles": definition().roles}, request=request))


USER_ACTIONS = ("add", "role", "passwd", "employee", "remove")


async def users(request, datasette):
    if not _is_admin(request.actor):
        raise Forbidden("只有管理员可以管理用户")
    store = user_store(datasette)
    if request.method == "POST":
        post = await request.post_vars()
        action, username = post.get("action"), (post.get("username") or "").strip()
        try:
            if action == "add":
                store.add(username, post.get("password", ""), post.get("role", ""), post.get("employee_no") or None)
            elif action == "role":
                store.set_role(username, post.get("role", ""))
            elif action == "passwd":
                store.set_password(username, post.get("password", ""))
            elif action == "employee":
                store.set_employee(username, post.get("employee_no") or None)
            elif action == "remove":
                if username == request.actor["id"]:
                    raise UserError("不能删除自己的账号")
                store.remove(username)
            else:
                raise UserError("未知操作")
        except UserError as ex:
            datasette.add_message(request, str(ex), datasette.ERROR)
        else:
            store.record(f"user_{action}", username, client_ip(request))
            datasette.add_message(request, f"已完成：{username}", datasette.INFO)
        return Response.redirect(datasette.urls.path("/-/users"))
    return Response.html(await datasette.render_template(
        "users.html", {"users": store.list(), "roles": definition().roles}, request=request))


@hookimpl
def register_routes():
    return [(r"^/-/account$", account), (r"^/-/users$", users)]


@hookimpl
def menu_links(datasette, actor, request):
    if not actor or actor.get("token"):
        return None
    links = [{"href": datasette.urls.path("/-/account"), "label": "修改密码"}]
    if _is_admin(actor):
        links.append({"href": datasette.urls.path("/-/users"), "label": "用户管理"})
    return links
