"""Support for the browser tests: `taizhang serve` on a loopback port, and Debian's headless
Chromium driven by Playwright (never a browser Playwright downloads)."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from taizhang import demo
from taizhang.datadir import REPO, DataDir, init

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
PASSWORD = "Browser-pass-1"
# Flags for a sandboxed CI machine with no network: no background traffic, no GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def writable_demo(path, today, accounts: dict[str, tuple[str, str | None]]) -> DataDir:
    """A data dir of its own with the demo registers, for browser tests that write (the shared
    demo data is read-only), and these logins: username -> (role, linked employee number)."""
    data_dir = DataDir.resolve(path)
    init(data_dir)
    demo.fill(data_dir, today=today)
    store = data_dir.users()
    for username, (role, employee_no) in accounts.items():
        store.add(username, PASSWORD, role, employee_no=employee_no)
    return data_dir


@contextlib.contextmanager
def running_server(data_dir):
    port = _free_port()
    env = {**os.environ, "TAIZHANG_TEST_FAST_HASH": "1"}
    log_path = data_dir.path / f"server-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "serve", "--data-dir", str(data_dir.path), "--port", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(150):
                try:
                    urllib.request.urlopen(url + "/-/login", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            else:
                raise RuntimeError("taizhang serve did not start:\n" + log_path.read_text())
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


# Module scope: Playwright's sync API keeps an event loop running while it is open, which
# must not outlive the browser tests into the asyncio tests that follow.
@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian's chromium is required for the browser tests: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def login(browser, server, username, password=PASSWORD, start="/"):
    page = browser.new_page()
    page.goto(server + "/-/login?next=" + start)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return page
