"""The password throttle under concurrency, at /-/login and at /-/account's current-password
check: simultaneous attempts are each counted, and past the limit even the right password is
refused until the window passes."""

import asyncio
import datetime

import pytest
import pytest_asyncio

from taizhang import throttle

pytestmark = pytest.mark.fast
PASSWORD = "Correct-horse-9"
N = 20


@pytest_asyncio.fixture
async def tds(empty_ds, empty_data_dir):
    store = empty_data_dir.users()
    store.add("wang", PASSWORD, "editor")
    empty_ds._test_store = store
    return empty_ds


def _events(ds) -> dict[str, int]:
    return dict(ds._test_store.conn.execute("SELECT event, count(*) FROM auth_events GROUP BY event"))


async def _login(ds, username, password):
    return await ds.client.post("/-/login", data={"username": username, "password": password})


async def _session(ds) -> dict:
    response = await _login(ds, "wang", PASSWORD)
    assert response.status_code == 302
    return {"tz_session": response.cookies["tz_session"]}


async def _change(ds, cookies, current):
    """A password change; its status, where it sends the browser and the message shown there."""
    response = await ds.client.post("/-/account", cookies=cookies, data={
        "current": current, "new": "New-password-7", "confirm": "New-password-7"})
    page = await ds.client.get("/-/account", cookies={**cookies, **dict(response.cookies)})
    return response.status_code, response.headers.get("location"), page.text.count("当前密码不正确"), \
        page.text.split("当前密码不正确")[1][:40] if "当前密码不正确" in page.text else None


@pytest.mark.asyncio
async def test_simultaneous_wrong_logins_are_each_counted(tds):
    responses = await asyncio.gather(*[_login(tds, "wang", f"wrong-password-{i}") for i in range(N)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * throttle.MAX_FAILURES + [429] * (N - throttle.MAX_FAILURES)
    assert _events(tds) == {"login_failed": throttle.MAX_FAILURES, "login_throttled": N - throttle.MAX_FAILURES}
    right = await _login(tds, "wang", PASSWORD)
    assert right.status_code == 429 and "登录失败次数过多" in right.text
    assert 0 < int(right.headers["retry-after"]) <= throttle.WINDOW.total_seconds()


@pytest.mark.asyncio
async def test_simultaneous_logins_of_many_names_from_one_address_are_each_counted(tds):
    responses = await asyncio.gather(*[_login(tds, f"user{i}", "wrong-password-1") for i in range(N)])
    assert sorted(r.status_code for r in responses).count(401) == throttle.MAX_FAILURES
    assert (await _login(tds, "wang", PASSWORD)).status_code == 429


def test_the_window_passing_allows_the_right_password_again(tds):
    store = tds._test_store
    start = datetime.datetime(2026, 11, 21, 8, 0, tzinfo=datetime.timezone.utc)
    for _ in range(throttle.MAX_FAILURES):
        throttle.finish(store, throttle.begin(store, "login", "wang", "10.0.0.1", now=start), right=False)
    refused = throttle.begin(store, "login", "wang", "10.0.0.1", now=start + throttle.WINDOW - datetime.timedelta(seconds=1))
    assert refused.refused and 0 < refused.retry_after <= 2
    assert not throttle.begin(store, "login", "wang", "10.0.0.1", now=start + throttle.WINDOW).refused


@pytest.mark.asyncio
async def test_wrong_current_passwords_count_toward_the_login_throttle(tds):
    cookies = await _session(tds)
    await asyncio.gather(*[_change(tds, cookies, f"wrong-one-{i}") for i in range(N)])
    assert _events(tds)["login_failed"] == throttle.MAX_FAILURES
    assert (await _login(tds, "wang", PASSWORD)).status_code == 429


@pytest.mark.asyncio
async def test_account_check_answers_wrong_and_throttled_right_identically(tds):
    cookies = await _session(tds)
    wrong = await _change(tds, cookies, "wrong-one-1")
    for i in range(throttle.MAX_FAILURES - 1):
        await _login(tds, "wang", f"wrong-password-{i}")
    assert (await _login(tds, "wang", PASSWORD)).status_code == 429   # the limit is reached
    right_but_throttled = await _change(tds, cookies, PASSWORD)
    assert right_but_throttled == wrong
    assert wrong[0] == 302 and wrong[2] == 1
    minutes = int(throttle.WINDOW.total_seconds()) // 60
    assert wrong[3].startswith(f"；失败 {throttle.MAX_FAILURES} 次后须等 {minutes} 分钟")   # the limits as they are
    assert tds._test_store.authenticate("wang", PASSWORD)           # unchanged
    assert _events(tds).get("password_changed") is None


@pytest.mark.asyncio
async def test_a_right_current_password_does_not_count(tds):
    cookies = await _session(tds)
    for _ in range(throttle.MAX_FAILURES + 2):
        response = await tds.client.post("/-/account", cookies=cookies, data={
            "current": PASSWORD, "new": "New-password-7", "confirm": "Other-password-7"})
        assert response.status_code == 302
    assert "login_failed" not in _events(tds)
    assert (await _login(tds, "wang", PASSWORD)).status_code == 302


@pytest.mark.asyncio
async def test_simultaneous_right_logins_from_one_address_all_pass(tds):
    # An office behind one address, everyone logging in at nine: attempts in flight hold places
    # under the limit but are not failures, so nobody is turned away.
    for i in range(N):
        tds._test_store.add(f"colleague{i}", PASSWORD, "viewer")
    responses = await asyncio.gather(*[_login(tds, f"colleague{i}", PASSWORD) for i in range(N)])
    assert [r.status_code for r in responses] == [302] * N
    assert _events(tds) == {"login": N}


def test_an_attempt_left_pending_by_a_crash_counts_as_a_failure(empty_data_dir):
    store = empty_data_dir.users()
    start = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.timezone.utc)
    for _ in range(throttle.MAX_FAILURES):
        assert not throttle.begin(store, "login", "wang", "10.0.0.1", now=start).refused   # never finished
    in_flight = throttle.begin(store, "login", "wang", "10.0.0.1", now=start + datetime.timedelta(seconds=5))
    assert in_flight.busy and not in_flight.refused          # still being checked: wait for them
    later = throttle.begin(store, "login", "wang", "10.0.0.1", now=start + throttle.STALE + datetime.timedelta(seconds=1))
    assert later.refused and later.retry_after > 0           # a minute on, they failed
    impatient = throttle.begin(store, "login", "wang", "10.0.0.2", now=start + datetime.timedelta(seconds=5),
                               patient=False)
    assert impatient.refused                                 # past PATIENCE, in flight counts as failed
