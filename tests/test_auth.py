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
