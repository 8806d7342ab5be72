"""Login through the real form, sessions checked against the user store on every request."""

import pytest
import pytest_asyncio

from taizhang import users

pytestmark = pytest.mark.fast
PASSWORD = "Correct-horse-9"


@pytest_asyncio.fixture
async def auth_ds(empty_ds, empty_data_dir):
    store = empty_data_dir.users()
    store.add("wang", PASSWORD, "editor", "00023")
    store.add("boss", PASSWORD, "admin")
    empty_ds._test_store = store
    return empty_ds


async def _login(ds, username, password, **extra):
    return await ds.client.post(
        "/-/login", data={"username": username, "password": password, **extra})


def _cookie(response):
    return response.cookies.get("tz_session")


@pytest.mark.asyncio
async def test_login_page_is_chinese(auth_ds):
    response = await auth_ds.client.get("/-/login")
    assert response.status_code == 200
    assert "用户名" in response.text and "密码" in response.text


@pytest.mark.asyncio
async def test_login_sets_a_hardened_session_cookie(auth_ds):
    response = await _login(auth_ds, "wang", PASSWORD)
    assert response.status_code == 302 and response.headers["location"] == "/"
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header and "max-age=" in header
    token = _cookie(response)
    page = await auth_ds.client.get("/ops/partners.json", cookies={"tz_session": token})
    assert page.status_code == 200
    actor = await auth_ds.client.get("/-/actor.json", cookies={"tz_session": token})
    assert actor.json()["actor"] == {"id": "wang", "roles": ["editor"], "employee_no": "00023"}


@pytest.mark.asyncio
@pytest.mark.parametrize("username,password", [("wang", "wrong-password-1"), ("nobody", PASSWORD), ("", "")])
async def test_failed_logins_look_the_same(auth_ds, username, password):
    response = await _login(auth_ds, username, password)
    assert response.status_code == 401
    assert "用户名或密码不正确" in response.text
    assert "tz_session" not in response.headers.get("set-cookie", "")


@pytest.mark.asyncio
async def test_login_redirects_only_to_local_paths(auth_ds):
    ok = await _login(auth_ds, "wang", PASSWORD, next="/ops/partners?status=合作中")
    assert ok.headers["location"] == "/ops/partners?status=合作中"
    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = await _login(auth_ds, "wang", PASSWORD, next=evil)
        assert response.headers["location"] == "/"


@pytest.mark.asyncio
async def test_role_change_and_removal_apply_at_the_next_request(auth_ds):
    token = _cookie(await _login(auth_ds, "wang", PASSWORD))
    store = auth_ds._test_store
    insert = {"row": {"no_such_column": 1}}
    before = await auth_ds.client.post("/ops/partners/-/insert", json=insert, cookies={"tz_session": token})
    assert before.status_code == 400  # editor: reaches validation
    store.set_role("wang", "viewer")
    after = await auth_ds.client.post("/ops/partners/-/insert", json=insert, cookies={"tz_session": token})
    assert after.status_code == 403
    store.remove("wang")
    gone = await auth_ds.client.get("/ops/partners.json", cookies={"tz_session": token})
    assert gone.status_code == 403


@pytest.mark.asyncio
async def test_new_user_can_log_in_without_restart(auth_ds):
    auth_ds._test_store.add("newbie", PASSWORD, "viewer")
    assert (await _login(auth_ds, "newbie", PASSWORD)).status_code == 302


@pytest.mark.asyncio
async def test_logout_ends_the_session_server_side(auth_ds):
    token = _cookie(await _login(auth_ds, "wang", PASSWORD))
    response = await auth_ds.client.post("/-/logout", cookies={"tz_session": token})
    assert response.status_code == 302
    assert (await auth_ds.client.get("/ops.json", cookies={"tz_session": token})).status_code == 403


@pytest.mark.asyncio
async def test_password_change_ends_sessions(auth_ds):
    token = _cookie(await _login(auth_ds, "wang", PASSWORD))
    auth_ds._test_store.set_password("wang", "Another-pass-42")
    assert (await auth_ds.client.get("/ops.json", cookies={"tz_session": token})).status_code == 403


@pytest.mark.asyncio
async def test_logins_are_recorded(auth_ds, empty_data_dir):
    await _login(auth_ds, "wang", PASSWORD)
    await _login(auth_ds, "wang", "bad-password-1")
    events = [r[0] for r in auth_ds._test_store.conn.execute("SELECT event FROM auth_events ORDER BY id")]
    assert events == ["login", "login_failed"]


def test_expired_sessions_are_refused(empty_data_dir):
    store = empty_data_dir.users()
    store.add("old", PASSWORD, "viewer")
    token = store.start_session("old")
    assert store.session_user(token).username == "old"
    store.conn.execute("UPDATE sessions SET last_seen_at = '2020-01-01T00:00:00Z'")
    assert store.session_user(token) is None
    token = store.start_session("old")
    store.conn.execute("UPDATE sessions SET created_at = '2020-01-01T00:00:00Z'")
    assert store.session_user(token) is None


def test_production_password_hash_is_owasp_argon2id(monkeypatch):
    monkeypatch.delenv("TAIZHANG_TEST_FAST_HASH")
    hasher = users.hasher()
    assert hasher.type.name == "ID"
    assert hasher.memory_cost >= 19 * 1024 and hasher.time_cost >= 2
    encoded = users.hash_password("Correct-horse-9")
    assert encoded.startswith("$argon2id$") and "m=19456,t=2,p=1" in encoded
    assert users.verify_password(encoded, "Correct-horse-9")
    assert not users.verify_password(encoded, "wrong")


@pytest.mark.parametrize("password", ["short1", "alllowercaseletters"])
def test_weak_passwords_are_refused(empty_data_dir, password):
    with pytest.raises(users.UserError):
        empty_data_dir.users().add("x", password, "viewer")


def test_user_store_is_not_served(demo_ds):
    assert "users" not in demo_ds.databases
    assert set(demo_ds.databases) == {"ops", "hr"}  # no _memory, no user store


@pytest.mark.asyncio
async def test_login_is_throttled_per_account_and_unknown_users_alike(auth_ds):
    for username in ("wang", "ghost"):
        for _ in range(10):
            assert (await _login(auth_ds, username, "bad-password-1")).status_code == 401
        response = await _login(auth_ds, username, PASSWORD)   # even the right password
        assert response.status_code == 429
        assert 0 < int(response.headers["retry-after"]) <= 15 * 60
        assert "登录失败次数过多" in response.text
        auth_ds._test_store.conn.execute("DELETE FROM auth_events")


@pytest.mark.asyncio
async def test_login_is_throttled_per_address(auth_ds):
    for i in range(10):
        await _login(auth_ds, f"user{i}", "bad-password-1")
    assert (await _login(auth_ds, "boss", PASSWORD)).status_code == 429


@pytest.mark.asyncio
async def test_successful_logins_do_not_count(auth_ds):
    for _ in range(9):
        await _login(auth_ds, "wang", "bad-password-1")
    for _ in range(5):
        assert (await _login(auth_ds, "wang", PASSWORD)).status_code == 302
    assert (await _login(auth_ds, "wang", "bad-password-1")).status_code == 401


@pytest.mark.asyncio
async def test_password_hashing_runs_off_the_event_loop(auth_ds, monkeypatch):
    import threading

    threads = []
    real = users.verify_password

    def spy(password_hash, password):
        threads.append(threading.current_thread().name)
        return real(password_hash, password)

    from taizhang import web

    monkeypatch.setattr(web, "verify_password", spy)
    await _login(auth_ds, "wang", PASSWORD)
    await _login(auth_ds, "nobody", PASSWORD)
    assert len(threads) == 2
    assert all(name.startswith("password-hash") for name in threads)
    assert web.HASH_POOL._max_workers <= 4   # bounded


@pytest.mark.asyncio
@pytest.mark.parametrize("header", [
    "Basic !!!notbase64", "Basic " + "d2FuZzpDb3JyZWN0LWhvcnNlLTk=", "Bearer", "Bearer ", "Bearer a b",
    "Token abc", "garbage", "Bearer dstok_not-a-real-token",
])
async def test_malformed_authorization_is_refused_never_500(auth_ds, header):
    response = await auth_ds.client.get("/ops/partners.json", headers={"Authorization": header})
    assert response.status_code in (400, 401)


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/", "/ops/partners", "/ops/partners.json", "/-/login", "/-/history"])
async def test_pages_are_not_cached(auth_ds, path):
    response = await auth_ds.client.get(path, actor={"id": "boss", "roles": ["admin"]})
    assert response.headers["cache-control"] == "private, no-store"


@pytest.mark.asyncio
async def test_password_tool_is_closed(auth_ds):
    assert (await auth_ds.client.get("/-/password-tool")).status_code in (302, 403)
    assert (await auth_ds.client.post("/-/password-tool", data={"password": "x"})).status_code == 403


@pytest.mark.asyncio
async def test_cookie_is_secure_only_over_https(auth_ds):
    import httpx2  # Datasette's own HTTP client library; ds.client always speaks http

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=auth_ds.app())) as client:
        https = await client.post(
            "https://localhost/-/login", data={"username": "wang", "password": PASSWORD},
            headers={"origin": "https://localhost"})
    assert https.status_code == 302 and "secure" in https.headers["set-cookie"].lower()
    http = await _login(auth_ds, "wang", PASSWORD)
    assert "secure" not in http.headers["set-cookie"].lower()


@pytest.mark.asyncio
async def test_tokens_act_with_the_owners_current_role(auth_ds):
    token = await auth_ds.create_token("wang")
    headers = {"Authorization": f"Bearer {token}"}
    insert = {"row": {"no_such_column": 1}}
    assert (await auth_ds.client.post("/ops/partners/-/insert", json=insert, headers=headers)).status_code == 400
    auth_ds._test_store.set_role("wang", "viewer")
    assert (await auth_ds.client.post("/ops/partners/-/insert", json=insert, headers=headers)).status_code == 403
    assert (await auth_ds.client.get("/ops/partners.json", headers=headers)).status_code == 200
    auth_ds._test_store.remove("wang")
    assert (await auth_ds.client.get("/ops/partners.json", headers=headers)).status_code == 401


@pytest.mark.asyncio
async def test_expired_tokens_are_refused(auth_ds):
    import time

    token = await auth_ds.create_token("boss", expires_after=1)
    time.sleep(1.1)
    response = await auth_ds.client.get("/ops.json", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.mark.asyncio
async def test_account_page_changes_the_own_password(auth_ds):
    token = _cookie(await _login(auth_ds, "wang", PASSWORD))
    cookies = {"tz_session": token}
    page = await auth_ds.client.get("/-/account", cookies=cookies)
    assert page.status_code == 200 and "修改密码" in page.text
    for form, message in (
        ({"current": "wrong-one-1", "new": "New-password-7", "confirm": "New-password-7"}, "当前密码不正确"),
        ({"current": PASSWORD, "new": "short", "confirm": "short"}, "密码至少需要"),
        ({"current": PASSWORD, "new": "New-password-7", "confirm": "Other-pass-77"}, "两次输入的新密码不一致"),
    ):
        response = await auth_ds.client.post("/-/account", data=form, cookies=cookies)
        assert response.status_code == 302
        assert message in (await auth_ds.client.get("/-/account", cookies={**cookies, **dict(response.cookies)})).text
    response = await auth_ds.client.post(
        "/-/account", data={"current": PASSWORD, "new": "New-password-7", "confirm": "New-password-7"}, cookies=cookies)
    fresh = _cookie(response)
    assert fresh and fresh != token
    assert (await auth_ds.client.get("/ops.json", cookies=cookies)).status_code == 403     # old session ended
    assert (await auth_ds.client.get("/ops.json", cookies={"tz_session": fresh})).status_code == 200
    assert (await _login(auth_ds, "wang", "New-password-7")).status_code == 302


@pytest.mark.asyncio
async def test_user_management_page_is_admin_only(auth_ds):
    admin, editor = {"id": "boss", "roles": ["admin"]}, {"id": "wang", "roles": ["editor"]}
    assert (await auth_ds.client.get("/-/users", actor=editor)).status_code == 403
    assert (await auth_ds.client.post("/-/users", data={"action": "remove", "username": "boss"}, actor=editor)).status_code == 403
    page = await auth_ds.client.get("/-/users", actor=admin)
    assert page.status_code == 200 and "wang" in page.text
    store = auth_ds._test_store
    await auth_ds.client.post("/-/users", data={"action": "add", "username": "li", "role": "analyst", "password": "Li-password-1", "employee_no": "00031"}, actor=admin)
    assert store.get("li").role == "analyst" and store.get("li").employee_no == "00031"
    await auth_ds.client.post("/-/users", data={"action": "role", "username": "li", "role": "hr"}, actor=admin)
    assert store.get("li").role == "hr"
    await auth_ds.client.post("/-/users", data={"action": "passwd", "username": "li", "password": "Li-password-2"}, actor=admin)
    assert store.authenticate("li", "Li-password-2")
    await auth_ds.client.post("/-/users", data={"action": "remove", "username": "li"}, actor=admin)
    assert store.get("li") is None
    response = await auth_ds.client.post("/-/users", data={"action": "add", "username": "x", "role": "viewer", "password": "weak"}, actor=admin)
    assert "密码至少需要" in (await auth_ds.client.get("/-/users", actor=admin, cookies=dict(response.cookies))).text
