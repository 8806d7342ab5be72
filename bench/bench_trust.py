"""Trust benchmark: what login hashing, constant-time login failure and the audit log cost.

Three measurements, each against a baseline measured in the same run:

1. Latency of an unrelated page (GET /ops/partners.json, logged-in admin) with no other load,
   and again while rounds of concurrent correct-password logins (20 different users) hit the
   same `taizhang serve` process: argon2id runs in a 2-thread pool off the event loop.
2. Failed logins for existing users vs unknown usernames, interleaved: unknown users are
   checked against a dummy hash, so the response time should not tell them apart.
3. Write throughput with and without the audit triggers: in-process through
   `audit.audited()` (inserts, then updates of one column) on fresh data dirs, and through the
   JSON write API (POST /ops/partners/-/insert, 100 rows a request) on two servers.

Password hashing runs at the production cost (TAIZHANG_TEST_FAST_HASH is removed from the
environment). Not a test: nothing is asserted; it prints tables and, with --markdown, writes
them to a file.

    .venv/bin/python bench/bench_trust.py --markdown docs/bench-trust.md

Traffic goes to 127.0.0.1 only; servers and temp dirs are removed on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import pathlib
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

BENCH = pathlib.Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import bench_serve as bs  # noqa: E402  (sets TAIZHANG_TEST_FAST_HASH=1 on import: undone below)
from report import (bounded, clean_up, command_line, machine, markdown_problems, print_problems,  # noqa: E402
                    render_markdown, render_text, write_markdown)

# The login measurements are about the production hash cost: never the fast test hash, neither
# here (user creation) nor in the servers, which inherit this environment.
os.environ.pop("TAIZHANG_TEST_FAST_HASH", None)

REPO = bs.REPO
HOST = bs.HOST
PAGE = "/ops/partners.json"
TABLE = "partners"
ADMIN = "bench_admin"
PASSWORD = "Bench-Trust-2025!"  # every benchmark user's password
WRONG = "Wrong-Password-99"
MAX_ROUNDS = 500  # flood rounds, whatever the timing
SAFE_FAILURES = 8  # failed logins per batch: under throttle.MAX_FAILURES (10) per address


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def production_hash_params(encoded: str) -> str:
    """'m=19456,t=2,p=1' from an argon2 hash string."""
    return encoded.split("$")[3] if encoded.count("$") >= 4 else "?"


def post(port: int, path: str, body: bytes, headers: dict, timeout: float = 60) -> tuple[int, float]:
    """Status and seconds of one POST on a fresh connection (as a browser login would)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        start = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - start
    finally:
        conn.close()


def login(port: int, username: str, password: str) -> tuple[int, float]:
    body = urllib.parse.urlencode({"username": username, "password": password}).encode()
    return post(port, "/-/login", body, {"Content-Type": "application/x-www-form-urlencoded"})


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else float("nan")


def run_cli(*args: str) -> str:
    cmd = [sys.executable, "-c", "from scripts.cli import cli; cli()", *args]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return proc.stdout


def drop_audit_triggers(db_path: pathlib.Path, table: str) -> list[str]:
    """Drop the tz_audit_<table>_* triggers (not the log's append-only ones); their names."""
    from taizhang import audit

    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        names = list(audit.table_triggers(conn, table))
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        missing = [n for n in names if n not in present]
        if missing:
            raise RuntimeError(f"{db_path}: audit triggers not found: {missing}")
        for name in names:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return names


def partner_rows(n: int, prefix: str, start: int = 0):
    categories = ["供应商", "渠道", "媒体", "技术服务", "物流", "其他"]
    modes = ["联合推广", "代理销售", "技术外包", "仓储配送", "内容合作"]
    for i in range(start, start + n):
        yield {
            "name": f"{prefix}合作伙伴{i:07d}有限公司",
            "category": categories[i % len(categories)],
            "contact_person": f"联系人{i % 997}",
            "phone": f"1{3 + i % 7}{i % 1_000_000_000:09d}",
            "email": f"p{i}@example.com",
            "cooperation_mode": modes[i % len(modes)],
            "status": "合作中" if i % 5 else "暂停",
            "notes": f"基准测试第 {i} 行",
        }


# --------------------------------------------------------------------------------------
# 1. Unrelated page during a login flood
# --------------------------------------------------------------------------------------


class Flood:
    """Rounds of `size` concurrent correct-password logins, one per user, back to back,
    until stopped (or MAX_ROUNDS)."""

    def __init__(self, port: int, usernames: list[str]):
        self.port, self.usernames = port, usernames
        self.stop_event, self.started = threading.Event(), threading.Event()
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.errors = 0
        self.rounds = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _one(self, username: str) -> None:
        try:
            status, seconds = login(self.port, username, PASSWORD)
        except (OSError, http.client.HTTPException):
            with self.lock:
                self.errors += 1
            return
        with self.lock:
            self.latencies.append(seconds * 1000)
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def _run(self) -> None:
        while not self.stop_event.is_set() and self.rounds < MAX_ROUNDS:
            workers = [threading.Thread(target=self._one, args=(u,), daemon=True) for u in self.usernames]
            for w in workers:
                w.start()
            self.started.set()
            for w in workers:
                w.join(120)
            self.rounds += 1
        self.started.set()

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.thread.start()
        self.started.wait(30)
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(180)
        self.elapsed = time.perf_counter() - self.t0


def measure_page(loadgen: str, lua: pathlib.Path, port: int, headers: dict, n: int, c: int, max_seconds: int) -> dict:
    if loadgen == "wrk":
        r = bs.measure_wrk(lua, port, PAGE, headers, n, c, max_seconds)
    else:
        r = bs.measure_python(port, PAGE, headers, n, c, max_seconds)
    r["valid"] = r["bad"] == 0 and r["socket_errors"] == 0 and r["n"] >= n
    return r


def bench_flood(args, port: int, cookie: dict, flood_users: list[str], loadgen: str, lua: pathlib.Path, problems: list[str]) -> dict:
    for _ in range(5):
        bs.get(port, PAGE, cookie)
    login(port, flood_users[0], PASSWORD)  # first use of the hash pool
    out = {}
    out["before"] = measure_page(loadgen, lua, port, cookie, args.requests, args.concurrency, args.max_seconds)
    with Flood(port, flood_users) as flood:
        out["flood"] = measure_page(loadgen, lua, port, cookie, args.requests, args.concurrency, args.max_seconds)
    out["after"] = measure_page(loadgen, lua, port, cookie, args.requests, args.concurrency, args.max_seconds)
    out["logins"] = {
        "rounds": flood.rounds, "n": len(flood.latencies), "statuses": flood.statuses, "errors": flood.errors,
        "elapsed_s": flood.elapsed, "p50": pct(flood.latencies, 50), "p95": pct(flood.latencies, 95),
        "per_s": len(flood.latencies) / flood.elapsed if flood.elapsed else 0.0,
    }
    for label in ("before", "flood", "after"):
        r = out[label]
        print(
            f"  {PAGE} c={args.concurrency} {label:6}: p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms  "
            f"{r['rps']:6.1f} req/s  ({r['n']} responses, {r['bad']} non-200, {r['socket_errors']} socket errors)",
            flush=True,
        )
        if not r["valid"]:
            problems.append(f"{PAGE} {label}: {r['n']} responses, {r['bad']} non-200 (first {r['bad_status']}), {r['socket_errors']} socket errors")
    lg = out["logins"]
    print(
        f"  flood: {lg['rounds']} rounds, {lg['n']} logins {lg['statuses']} in {lg['elapsed_s']:.1f}s "
        f"({lg['per_s']:.1f}/s), login p50 {lg['p50']:.0f} ms p95 {lg['p95']:.0f} ms",
        flush=True,
    )
    if set(lg["statuses"]) - {302} or lg["errors"]:
        problems.append(f"flood logins: statuses {lg['statuses']}, {lg['errors']} socket errors (expected only 302)")
    return out


# --------------------------------------------------------------------------------------
# 2. Failed logins: existing vs unknown users
# --------------------------------------------------------------------------------------


def clear_failures(users_db: pathlib.Path) -> int:
    conn = sqlite3.connect(users_db, isolation_level=None, timeout=10)
    try:
        return conn.execute("DELETE FROM auth_events WHERE event = 'login_failed'").rowcount
    finally:
        conn.close()


def bench_timing(args, port: int, users_db: pathlib.Path, known: list[str], warm_known: str, problems: list[str]) -> dict:
    ghost = f"ghost-{secrets.token_hex(3)}"
    unknown = [f"{ghost}-{i:02d}" for i in range(len(known))]
    cleared = clear_failures(users_db)
    # The first unknown username in a server process also computes the dummy hash once.
    cold_unknown = login(port, f"{ghost}-warmup", WRONG)
    warm_known_r = login(port, warm_known, WRONG)
    warm_unknown = login(port, f"{ghost}-warmup2", WRONG)
    times = {"known": [], "unknown": []}
    statuses: dict[str, dict[int, int]] = {"known": {}, "unknown": {}}
    batches = 0
    in_batch = SAFE_FAILURES  # forces a clear before the first measured batch
    for i, (k, u) in enumerate(zip(known, unknown)):
        if in_batch + 2 > SAFE_FAILURES:
            cleared += clear_failures(users_db)
            batches += 1
            in_batch = 0
        pair = [("known", k), ("unknown", u)]
        if i % 2:
            pair.reverse()
        for kind, name in pair:
            status, seconds = login(port, name, WRONG)
            times[kind].append(seconds * 1000)
            statuses[kind][status] = statuses[kind].get(status, 0) + 1
            in_batch += 1
    cleared += clear_failures(users_db)
    out = {
        "times": times, "statuses": statuses, "batches": batches, "cleared": cleared,
        "cold_unknown_ms": cold_unknown[1] * 1000, "warm_known_ms": warm_known_r[1] * 1000,
        "warm_unknown_ms": warm_unknown[1] * 1000,
    }
    for kind in ("known", "unknown"):
        t = times[kind]
        print(
            f"  wrong password, {kind:7} user: n {len(t)}  mean {statistics.mean(t):6.1f} ms  median {statistics.median(t):6.1f} ms  "
            f"stdev {statistics.stdev(t):5.1f}  min {min(t):6.1f}  max {max(t):6.1f}  statuses {statuses[kind]}",
            flush=True,
        )
        if set(statuses[kind]) != {401}:
            problems.append(f"timing, {kind} users: statuses {statuses[kind]} (expected only 401)")
    print(
        f"  warm-up: first unknown user {out['cold_unknown_ms']:.1f} ms (computes the dummy hash), then known "
        f"{out['warm_known_ms']:.1f} ms, unknown {out['warm_unknown_ms']:.1f} ms; "
        f"{batches} batches of <= {SAFE_FAILURES} failures, {cleared} login_failed rows deleted from users.db",
        flush=True,
    )
    return out


# --------------------------------------------------------------------------------------
# 3. Audited vs unaudited writes
# --------------------------------------------------------------------------------------

INSERT_COLUMNS = ("name", "category", "contact_person", "phone", "email", "cooperation_mode", "status", "notes")


def inproc_once(path: pathlib.Path, rows: int, audited_on: bool) -> dict:
    from taizhang import audit
    from taizhang.datadir import DataDir, init

    data_dir = DataDir.resolve(path)
    init(data_dir)
    if not audited_on:
        drop_audit_triggers(data_dir.database("ops"), TABLE)
    key = audit.key_from_secret(data_dir.secret())
    who = audit.Who(actor="bench", role="admin", source="cli", note="bench_trust")
    conn = data_dir.connect("ops")
    try:
        log0 = conn.execute(f"SELECT count(*) FROM {audit.LOG}").fetchone()[0]
        values = [tuple(r[c] for c in INSERT_COLUMNS) for r in partner_rows(rows, "基准")]
        sql = f"INSERT INTO {TABLE} ({', '.join(INSERT_COLUMNS)}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
        t0 = time.perf_counter()
        with audit.audited(conn, who, key):
            conn.executemany(sql, values)
            t1 = time.perf_counter()
        t2 = time.perf_counter()
        ids = [r[0] for r in conn.execute(f"SELECT id FROM {TABLE} WHERE name LIKE '基准%' ORDER BY id")]
        updates = [(f"已更新 {i}", i) for i in ids]
        t3 = time.perf_counter()
        with audit.audited(conn, who, key):
            conn.executemany(f"UPDATE {TABLE} SET notes = ? WHERE id = ?", updates)
            t4 = time.perf_counter()
        t5 = time.perf_counter()
        logged = conn.execute(f"SELECT count(*) FROM {audit.LOG}").fetchone()[0] - log0
        sealed_to = conn.execute(f"SELECT coalesce(max(last_log_id), 0) FROM {audit.SEAL}").fetchone()[0]
        unsealed = conn.execute(f"SELECT count(*) FROM {audit.LOG} WHERE id > ?", [sealed_to]).fetchone()[0]
    finally:
        conn.close()
    return {
        "insert_s": t2 - t0, "insert_finish_s": t2 - t1, "update_s": t5 - t3, "update_finish_s": t5 - t4,
        "inserted": len(ids), "updated": len(updates), "logged": logged, "unsealed": unsealed,
    }


def bench_inproc(args, tmp: pathlib.Path, problems: list[str]) -> dict:
    runs = {True: [], False: []}
    for rep in range(args.repeat):
        order = (False, True) if rep % 2 == 0 else (True, False)
        for on in order:
            path = tmp / f"inproc-{rep}-{'audited' if on else 'plain'}"
            r = inproc_once(path, args.rows, on)
            shutil.rmtree(path, ignore_errors=True)
            runs[on].append(r)
            print(
                f"  in-process rep {rep + 1} {'audited  ' if on else 'unaudited'}: insert {r['inserted']:,} rows {r['insert_s']:.2f}s "
                f"({r['inserted'] / r['insert_s']:,.0f}/s, seal+commit {r['insert_finish_s']:.2f}s), "
                f"update {r['updated']:,} {r['update_s']:.2f}s ({r['updated'] / r['update_s']:,.0f}/s, seal+commit "
                f"{r['update_finish_s']:.2f}s); audit rows {r['logged']:,}",
                flush=True,
            )
            expected = 2 * args.rows if on else 0
            if r["logged"] != expected or r["inserted"] != args.rows or r["unsealed"]:
                problems.append(
                    f"in-process {'audited' if on else 'unaudited'} rep {rep + 1}: {r['inserted']} inserted, "
                    f"{r['logged']} audit rows (expected {expected}), {r['unsealed']} unsealed"
                )
    return runs


def insert_batch(port: int, cookie: dict, rows: list[dict]) -> tuple[int, float, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        body = json.dumps({"rows": rows}, ensure_ascii=False).encode()
        start = time.perf_counter()
        conn.request("POST", f"/ops/{TABLE}/-/insert", body=body, headers={**cookie, "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, time.perf_counter() - start, data
    finally:
        conn.close()


def bench_http(args, ports: dict, cookie: dict, dirs: dict, problems: list[str]) -> dict:
    from taizhang import audit

    batches = max(1, args.http_rows // 100)
    chunk = 5
    out = {on: {"seconds": 0.0, "rows": 0, "bad": 0, "first_bad": None} for on in (True, False)}
    logs0 = {}
    for on in (True, False):
        with sqlite3.connect(dirs[on] / "ops.db") as c:
            logs0[on] = c.execute(f"SELECT count(*) FROM {audit.LOG}").fetchone()[0]
    # warm-up: one small insert each
    for on in (True, False):
        insert_batch(ports[on], cookie, list(partner_rows(1, f"预热{'A' if on else 'P'}")))
    done = {True: 0, False: 0}
    turn = 0
    while done[True] < batches or done[False] < batches:
        order = (False, True) if turn % 2 == 0 else (True, False)
        for on in order:
            for _ in range(min(chunk, batches - done[on])):
                rows = list(partner_rows(100, "接口A" if on else "接口P", done[on] * 100))
                status, seconds, body = insert_batch(ports[on], cookie, rows)
                o = out[on]
                o["seconds"] += seconds
                if status == 201:
                    o["rows"] += len(rows)
                else:
                    o["bad"] += 1
                    o["first_bad"] = o["first_bad"] or (status, body[:300].decode("utf-8", "replace"))
                done[on] += 1
        turn += 1
    for on in (True, False):
        with sqlite3.connect(dirs[on] / "ops.db") as c:
            out[on]["logged"] = c.execute(f"SELECT count(*) FROM {audit.LOG}").fetchone()[0] - logs0[on]
        o = out[on]
        o["rps"] = o["rows"] / o["seconds"] if o["seconds"] else 0.0
        print(
            f"  HTTP insert {'audited  ' if on else 'unaudited'}: {o['rows']:,} rows in {batches} requests, "
            f"{o['seconds']:.2f}s ({o['rps']:,.0f} rows/s), audit rows {o['logged']:,}, non-201 {o['bad']}",
            flush=True,
        )
        if o["bad"]:
            problems.append(f"HTTP insert {'audited' if on else 'unaudited'}: {o['bad']} non-201 responses, first {o['first_bad']}")
    return out


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

f = bs.fmt


def ratio(a: float, b: float, digits: int = 2) -> str:
    return f(a / b, digits) if b else "–"


def tables(res: dict, args) -> list[tuple[str, list[str], list[list[str]]]]:
    out = []
    if "flood" in res:
        fl = res["flood"]
        b, d, a = fl["before"], fl["flood"], fl["after"]

        def mark(r, key, digits=1):
            return f(r[key], digits) + ("" if r["valid"] else "!")

        rows = [
            [f"{PAGE} p50 ms", mark(b, "p50"), mark(d, "p50"), ratio(d["p50"], b["p50"]), mark(a, "p50")],
            [f"{PAGE} p95 ms", mark(b, "p95"), mark(d, "p95"), ratio(d["p95"], b["p95"]), mark(a, "p95")],
            [f"{PAGE} req/s", mark(b, "rps"), mark(d, "rps"), ratio(d["rps"], b["rps"]), mark(a, "rps")],
        ]
        lg = fl["logins"]
        rows.append([
            "login (correct password) p50 / p95 ms", "–", f"{lg['p50']:.0f} / {lg['p95']:.0f}", "–", "–",
        ])
        rows.append(["logins completed (per s)", "–", f"{lg['n']} ({lg['per_s']:.1f}/s)", "–", "–"])
        out.append((
            f"1. Unrelated page during a login flood (c={args.concurrency}, {args.requests} requests each)",
            ["metric", "no load (before)", "during flood", "flood / before", "no load (after)"], rows,
        ))
    if "timing" in res:
        t = res["timing"]["times"]
        k, u = t["known"], t["unknown"]
        rows = [
            ["mean ms", f(statistics.mean(k)), f(statistics.mean(u)), f(statistics.mean(u) - statistics.mean(k))],
            ["median ms", f(statistics.median(k)), f(statistics.median(u)), f(statistics.median(u) - statistics.median(k))],
            ["stdev ms", f(statistics.stdev(k)), f(statistics.stdev(u)),
             "± " + f(1.96 * (statistics.variance(k) / len(k) + statistics.variance(u) / len(u)) ** 0.5)
             + " (95% interval of the mean difference)"],
            ["min / max ms", f"{min(k):.1f} / {max(k):.1f}", f"{min(u):.1f} / {max(u):.1f}", "–"],
        ]
        out.append((
            f"2. Failed login (wrong password), existing vs unknown username ({len(k)} each, interleaved)",
            ["metric", "existing user", "unknown user", "unknown − existing"], rows,
        ))
    rows = []
    if "inproc" in res:
        runs = res["inproc"]
        for op, key, count in (("insert", "insert_s", "inserted"), ("update notes", "update_s", "updated")):
            plain = statistics.median(r[count] / r[key] for r in runs[False])
            aud = statistics.median(r[count] / r[key] for r in runs[True])
            share = statistics.median(r[key.replace("_s", "_finish_s")] / r[key] for r in runs[True])
            rows.append([
                f"{op}, in-process audited() ({args.rows:,} rows, 1 transaction)", f"{plain:,.0f}", f"{aud:,.0f}",
                ratio(aud, plain), "yes" if aud / plain >= 0.5 else "no",
                f"median of {args.repeat}; seal+commit {share:.0%} of audited time",
            ])
    if "http" in res:
        h = res["http"]
        rows.append([
            f"insert, HTTP JSON API ({h[True]['rows']:,} rows, 100 per request)", f"{h[False]['rps']:,.0f}", f"{h[True]['rps']:,.0f}",
            ratio(h[True]["rps"], h[False]["rps"]), "yes" if h[False]["rps"] and h[True]["rps"] / h[False]["rps"] >= 0.5 else "no",
            "sequential requests, batches interleaved between servers",
        ])
    if rows:
        out.append((
            "3. Write throughput, audit triggers on vs dropped (rows/s)",
            ["operation", "unaudited rows/s", "audited rows/s", "audited / unaudited", "≥ 0.5", "note"], rows,
        ))
    return out


def notes(res: dict, args, hash_params: str, loadgen: str) -> list[str]:
    n = [
        f"Password hashing: argon2id {hash_params} (production; TAIZHANG_TEST_FAST_HASH unset for "
        "user creation and both servers); the server verifies in a 2-thread pool off the event loop.",
    ]
    if "flood" in res:
        lg = res["flood"]["logins"]
        n.append(
            f"Flood: rounds of {args.flood_users} concurrent logins of {args.flood_users} different existing users with "
            f"their correct passwords (successful logins are never throttled), repeated back to back for the whole "
            f"measurement window: {lg['rounds']} rounds, {lg['n']} logins, statuses {lg['statuses']}. "
            f"Unrelated page measured with {loadgen} at c={args.concurrency}, admin session cookie."
        )
    if "timing" in res:
        t = res["timing"]
        n.append(
            f"Timing: each existing user ({len(t['times']['known'])} created for this) and each unknown username tried once "
            f"with a wrong password, alternating which goes first, one new connection per request. The per-address "
            f"throttle (10 failures / 15 min) is avoided by the benchmark deleting the `login_failed` rows from "
            f"users.db `auth_events` between batches of at most {SAFE_FAILURES} failures ({t['batches']} batches, "
            f"{t['cleared']} rows deleted). Warm-up: the first unknown username in the process took "
            f"{t['cold_unknown_ms']:.1f} ms (it also computes the dummy hash, once per process); then an existing user "
            f"{t['warm_known_ms']:.1f} ms, an unknown one {t['warm_unknown_ms']:.1f} ms."
        )
    if "inproc" in res:
        n.append(
            f"In-process writes: fresh data dir per run (`datadir.init`), `{TABLE}` rows inserted with executemany inside "
            "`audit.audited()` (context row, triggers, HMAC seal of every new log row, commit), then every row's `notes` "
            "updated the same way. Unaudited: same code on a copy where the three `tz_audit_partners_*` triggers are "
            "dropped (the seal then finds nothing to seal). Other triggers (updated_at, search queue, canonical values) "
            f"run in both. {args.repeat} runs each, order alternated."
        )
    if "http" in res:
        n.append(
            "HTTP writes: two servers started from copies of the same data dir, one with the `tz_audit_partners_*` "
            "triggers dropped in ops.db before start (triggers are only created by `taizhang init`); both still run the "
            "audit write_wrapper (context row, seal) and the search-index drain. Time is the sum of request times."
        )
    return n


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    b = bounded
    p.add_argument("--requests", type=b(10, 5000), default=300, help=f"requests to {PAGE} per measurement (default 300)")
    p.add_argument("--concurrency", type=b(1, 16), default=1, help="connections for the unrelated page (default 1)")
    p.add_argument("--flood-users", type=b(1, 50), default=20, help="concurrent logins per flood round (default 20)")
    p.add_argument("--timing-n", type=b(4, 200), default=40, help="failed logins per kind, existing and unknown (default 40)")
    p.add_argument("--rows", type=b(100, 1_000_000), default=20_000, help="in-process rows inserted/updated (default 20000)")
    p.add_argument("--repeat", type=b(1, 10), default=3, help="in-process runs per variant (default 3)")
    p.add_argument("--http-rows", type=b(0, 100_000), default=3000, help="rows per server via the insert API; 0 skips (default 3000)")
    p.add_argument("--skip", action="append", choices=("flood", "timing", "inproc", "http"), default=[], help="skip a part (repeatable)")
    p.add_argument("--max-seconds", type=b(5, 600), default=120, help="cap per page measurement")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--markdown", metavar="PATH", help="also write the results as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the temp dirs (printed) instead of deleting them")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    if loadgen == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk), or use --loadgen python")
    skip = set(args.skip) | ({"http"} if args.http_rows == 0 else set())
    need_server = not {"flood", "timing", "http"} <= skip

    from taizhang import users as tz_users

    assert os.environ.get("TAIZHANG_TEST_FAST_HASH") is None
    hash_params = production_hash_params(tz_users.hash_password(PASSWORD))

    started = datetime.datetime.now().astimezone()
    t_start = time.perf_counter()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tz-bench-trust-"))
    servers: list[bs.Server] = []
    res: dict = {}
    problems: list[str] = []
    try:
        dirs = {True: tmp / "audited", False: tmp / "unaudited"}
        if need_server:
            print(f"taizhang init --demo in {dirs[True]} ...", flush=True)
            run_cli("init", "--demo", "--data-dir", str(dirs[True]))
            from taizhang.datadir import DataDir

            t0 = time.perf_counter()
            store = DataDir.resolve(dirs[True]).users()
            try:
                store.add(ADMIN, PASSWORD, "admin")
                token = store.start_session(ADMIN)
                flood_users = [f"flood-{i:02d}" for i in range(1, args.flood_users + 1)]
                known = [f"known-{i:02d}" for i in range(1, args.timing_n + 1)]
                for name in flood_users + known:
                    store.add(name, PASSWORD, "viewer")
                stored = production_hash_params(store.password_hash(known[0]))
            finally:
                store.close()
            print(
                f"  {1 + len(flood_users) + len(known)} users created in {time.perf_counter() - t0:.1f}s, hashes {stored}",
                flush=True,
            )
            if stored != hash_params:
                problems.append(f"stored hash parameters {stored} differ from {hash_params}")
            cookie = {"Cookie": f"tz_session={token}"}
            if "http" not in skip:
                shutil.copytree(dirs[True], dirs[False])
                dropped = drop_audit_triggers(dirs[False] / "ops.db", TABLE)
                print(f"  copy {dirs[False]} with {', '.join(dropped)} dropped", flush=True)
            ports = {}
            for on in (True, False) if "http" not in skip else (True,):
                ports[on] = bs.free_port()
                cmd, how = bs.taizhang_command(dirs[on], ports[on])
                servers.append(bs.Server("audited" if on else "unaudited", cmd, ports[on], tmp / f"{'audited' if on else 'unaudited'}.log"))
            for s in servers:
                s.wait_ready()
            print(f"servers [{how}]: " + ", ".join(f"{s.name} :{s.port}" for s in servers) + f"; load generator {loadgen}", flush=True)
            lua = tmp / "bench.lua"
            lua.write_text(bs.WRK_LUA)
            if "flood" not in skip:
                print(f"1. {PAGE} with and without a {args.flood_users}-login flood", flush=True)
                res["flood"] = bench_flood(args, ports[True], cookie, flood_users, loadgen, lua, problems)
            if "timing" not in skip:
                print("2. failed logins: existing vs unknown users", flush=True)
                res["timing"] = bench_timing(args, ports[True], dirs[True] / "users.db", known, flood_users[0], problems)
            if "http" not in skip:
                print("3b. insert API, audited vs unaudited server", flush=True)
                res["http"] = bench_http(args, ports, cookie, dirs, problems)
            for s in servers:
                s.stop()
            servers.clear()
        if "inproc" not in skip:
            print(f"3a. in-process writes, {args.rows:,} rows, audited vs unaudited", flush=True)
            res["inproc"] = bench_inproc(args, tmp, problems)

        total_s = time.perf_counter() - t_start
        rendered = tables(res, args)
        print()
        for title, header, rows in rendered:
            print(title)
            print(render_text(header, rows))
            print()
        note_list = notes(res, args, hash_params, loadgen)
        for line in note_list:
            print("- " + line)
        print("'!' marks a figure with non-200 responses, socket errors or too few requests.")
        print(f"Whole run: {total_s:.0f}s.")
        print_problems(problems)

        if args.markdown:
            command = command_line(__file__, argv)
            import datasette

            md = [
                "# Trust benchmark: login hashing, login timing, audit overhead",
                "",
                f"- Command: `{command}`",
                f"- Date: {started:%Y-%m-%d %H:%M %Z}",
                f"- Machine: {machine()}",
                f"- Datasette {datasette.__version__}; data: `taizhang init --demo` (42 partners, 520 customers, …) "
                f"plus {1 + args.flood_users + args.timing_n} users created with `UserStore.add`",
                f"- Whole run: {total_s:.0f}s",
                "",
            ]
            for title, header, rows in rendered:
                md += [f"## {title}", "", render_markdown(header, rows), ""]
            md += ["## How it was measured", ""] + [f"- {line}" for line in note_list] + [""]
            md += ["`!` marks a figure with non-200 responses, socket errors or too few requests.", ""]
            md += markdown_problems(problems)
            write_markdown(args.markdown, md)
        return 1 if problems else 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        clean_up(tmp, args.keep, servers)


if __name__ == "__main__":
    sys.exit(main())
