"""Serving benchmark: taizhang against plain Datasette on the same customers table.

Builds a throw-away data dir (taizhang.datadir.init), fills `customers` with N rows of
generated Chinese data and its search index, copies ops.db for a plain `datasette serve`
baseline, starts both servers on 127.0.0.1 and measures a few customer pages at concurrency
1 and 8 with wrk (or Python threads when wrk is missing). Not a test: nothing is asserted, it
prints p50/p95 latency and requests/s per page and server, and the taizhang/plain ratios.

    .venv/bin/python bench/bench_serve.py --rows 200000 --markdown docs/bench-serve.md

Traffic goes to 127.0.0.1 only; servers and temp dirs are removed on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

# Password hashing cost is irrelevant here; must be set before taizhang is imported.
os.environ["TAIZHANG_TEST_FAST_HASH"] = "1"

REPO = pathlib.Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from report import (bounded, clean_up, command_line, machine, markdown_problems, print_problems,  # noqa: E402
                    render_markdown, render_text, width, write_markdown)

HOST = "127.0.0.1"
RARE_TERM = "鲟鱼子酱"  # in ~0.1% of rows
COMMON_TERM = "会员"  # in ~30% of rows
ADMIN = "bench_admin"
MAX_ROWS = 5_000_000
MAX_REQUESTS = 5_000


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰燕辉玲华飞鹏宇浩凯晨欣怡子涵梓轩雨婷佳琪博文思远嘉怡一鸣建国志强海燕春梅晓东丹丹雪梅")
PLACES = [
    ("北京市", "北京市", ["朝阳区", "海淀区", "东城区", "西城区", "丰台区"]),
    ("上海市", "上海市", ["浦东新区", "徐汇区", "静安区", "黄浦区", "闵行区"]),
    ("广东省", "广州市", ["天河区", "越秀区", "海珠区", "番禺区"]),
    ("广东省", "深圳市", ["南山区", "福田区", "宝安区", "龙岗区"]),
    ("浙江省", "杭州市", ["西湖区", "滨江区", "拱墅区", "余杭区"]),
    ("浙江省", "宁波市", ["鄞州区", "海曙区", "江北区"]),
    ("江苏省", "南京市", ["鼓楼区", "玄武区", "建邺区", "江宁区"]),
    ("江苏省", "苏州市", ["姑苏区", "工业园区", "吴中区"]),
    ("四川省", "成都市", ["锦江区", "武侯区", "青羊区", "高新区"]),
    ("湖北省", "武汉市", ["江汉区", "武昌区", "洪山区"]),
    ("陕西省", "西安市", ["雁塔区", "碑林区", "未央区"]),
    ("重庆市", "重庆市", ["渝中区", "江北区", "南岸区"]),
    ("天津市", "天津市", ["和平区", "河西区", "南开区"]),
    ("山东省", "青岛市", ["市南区", "崂山区", "黄岛区"]),
    ("福建省", "厦门市", ["思明区", "湖里区"]),
    ("湖南省", "长沙市", ["岳麓区", "芙蓉区", "天心区"]),
]
ROADS = ["人民路", "解放路", "中山路", "建设路", "长江路", "文化路", "新华路", "和平路", "胜利路", "青年路", "科技路", "滨江大道"]
FIRMS = ["华信", "宏达", "恒通", "瑞丰", "金鼎", "鸿运", "天成", "嘉禾", "博远", "盛世", "安泰", "永辉", "聚源", "东方", "明德"]
TRADES = ["贸易", "科技", "餐饮管理", "文化传媒", "电子商务", "物流", "食品", "建材", "医药", "教育咨询", "酒店管理"]
SOURCES = ["线上商城", "门店", "展会", "老客推荐", "电话营销", "微信公众号", "抖音直播", "合作渠道"]
# No phrase below contains the common or the rare term, nor do two of them joined make one:
# phrases are joined with punctuation, which ends a run of Han characters.
PREFERENCES = [
    "偏好周末到店", "喜欢新品试用", "关注折扣活动", "常购有机蔬菜", "偏爱进口红酒", "需要开具发票",
    "习惯线上下单", "对价格较敏感", "喜欢手冲咖啡", "常买母婴用品", "重视售后服务", "偏好送货上门",
    "关注健康食品", "常订商务礼盒", "喜欢茶叶礼品", "偏好晚间配送", "需要定期对账", "偏好整箱采购",
]
NOTES = [
    "上月投诉已处理", "已加企业微信", "春节前需回访", "对接人近期更换", "付款及时", "曾有退货记录",
    "需要寄送样品", "年底有采购计划", "建议安排专人对接", "地址近期变更", "希望参加品鉴活动",
]
COMMON_PHRASES = ["已开通会员", "会员日积极参与", "会员积分较多", "希望升级会员", "会员卡即将到期"]
RARE_PHRASES = ["订购鲟鱼子酱礼盒", "偏爱鲟鱼子酱"]


def _date(rng: random.Random, start: datetime.date, end: datetime.date) -> datetime.date:
    return datetime.date.fromordinal(rng.randint(start.toordinal(), end.toordinal()))


def customer_rows(n: int, seed: int):
    rng = random.Random(seed)
    first_day, last_day = datetime.date(2015, 1, 1), datetime.date(2025, 6, 30)
    today = datetime.date(2025, 12, 31)
    for i in range(1, n + 1):
        province, city, districts = rng.choice(PLACES)
        district = rng.choice(districts)
        company = rng.random() < 0.35
        person = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        if company:
            name = f"{city[:-1]}{rng.choice(FIRMS)}{rng.choice(TRADES)}有限公司"
            contact = person
            email = f"contact{i}@example.com" if rng.random() < 0.6 else None
        else:
            name, contact = person, None
            email = f"user{i}@example.cn" if rng.random() < 0.2 else None
        tier = rng.choices((1, 2, 3), weights=(15, 50, 35))[0]
        first = _date(rng, first_day, last_day)
        last = _date(rng, first, last_day) if rng.random() < 0.85 else None
        visit = _date(rng, first, today) if rng.random() < 0.75 else None
        spend = round(rng.lognormvariate({1: 10.5, 2: 8.5, 3: 6.5}[tier], 0.8), 2)
        prefs = rng.sample(PREFERENCES, rng.randint(1, 3))
        notes = rng.sample(NOTES, rng.randint(0, 2))
        roll = rng.random()
        if roll < 0.30:
            (prefs if rng.random() < 0.5 else notes).append(rng.choice(COMMON_PHRASES))
        if rng.random() < 0.001:
            prefs.append(rng.choice(RARE_PHRASES))
        rng.shuffle(prefs)
        yield (
            f"KH{i:07d}",
            name,
            "企业" if company else "个人",
            tier,
            contact,
            f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}",
            email,
            f"{province}{city if city != province else ''}{district}{rng.choice(ROADS)}{rng.randint(1, 999)}号",
            rng.choice(SOURCES),
            first.isoformat(),
            last.isoformat() if last else None,
            spend,
            "，".join(prefs),
            rng.choices(("低", "中", "高"), weights=(60, 28, 12))[0],
            visit.isoformat() if visit else None,
            "；".join(notes) or None,
        )


COLUMNS = (
    "customer_no", "name", "kind", "tier_id", "contact_person", "phone", "email", "address",
    "source", "first_purchase_on", "last_purchase_on", "total_spend", "preferences",
    "churn_risk", "last_visit_on", "notes",
)


def build_data_dir(path: pathlib.Path, rows: int, seed: int) -> dict:
    from taizhang import search
    from taizhang.datadir import DataDir, init
    from taizhang.registers import load

    definition = load()
    data_dir = DataDir.resolve(path)
    t0 = time.perf_counter()
    init(data_dir, definition)
    conn = data_dir.connect("ops")
    try:
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO customers ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            customer_rows(rows, seed),
        )
        t_insert = time.perf_counter()
        indexed = search.drain(conn, definition)
        conn.execute("COMMIT")
        t_index = time.perf_counter()
        like = " OR ".join(f"{c} LIKE ?" for c in ("name", "contact_person", "address", "preferences", "notes"))
        truth = {
            term: conn.execute(f"SELECT count(*) FROM customers WHERE {like}", [f"%{term}%"] * 5).fetchone()[0]
            for term in (RARE_TERM, COMMON_TERM)
        }
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    store = data_dir.users(definition)
    try:
        store.add(ADMIN, "Bench-Admin-2025!", "admin")
        token = store.start_session(ADMIN)
    finally:
        store.close()
    return {
        "data_dir": data_dir,
        "token": token,
        "insert_s": t_insert - t0,
        "index_s": t_index - t_insert,
        "indexed": indexed,
        "truth": truth,
    }


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def run_taizhang(data_dir: str, port: int) -> None:
    """The taizhang runner: what `datasette serve` does, with the app from make_datasette."""
    import asyncio

    import uvicorn
    from datasette.cli import check_databases

    from taizhang.app import make_datasette
    from taizhang.datadir import DataDir

    async def main():
        ds = make_datasette(DataDir.resolve(data_dir))
        await check_databases(ds)
        await ds.invoke_startup()
        config = uvicorn.Config(ds.app(), host=HOST, port=port, log_level="warning", lifespan="on", workers=1)
        await uvicorn.Server(config).serve()

    asyncio.run(main())


def taizhang_command(data_dir: pathlib.Path, port: int) -> tuple[list[str], str]:
    cli = REPO / "scripts" / "cli.py"
    if cli.exists():
        text = cli.read_text(encoding="utf-8")
        if "serve" in text and "--data-dir" in text and "--port" in text:
            code = "from scripts.cli import cli; cli()"
            host = ["--host", HOST] if "--host" in text else []
            return [sys.executable, "-c", code, "serve", "--data-dir", str(data_dir), *host, "--port", str(port)], "`taizhang serve` (scripts/cli.py)"
    return [sys.executable, str(pathlib.Path(__file__).resolve()), "--serve-taizhang", str(data_dir), "--port", str(port)], "runner (make_datasette + uvicorn)"


class Server:
    def __init__(self, name: str, command: list[str], port: int, log: pathlib.Path, env: dict | None = None):
        self.name, self.command, self.port, self.log_path = name, command, port, log
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            command, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/-/versions.json")
                conn.getresponse().read()
                conn.close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f}s:\n{self.tail()}")

    def tail(self, n: int = 2000) -> str:
        self.log.flush()
        return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.log.close()


# --------------------------------------------------------------------------------------
# Pages
# --------------------------------------------------------------------------------------


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def report_sql(name: str = "customer_tier_overview") -> str:
    import yaml

    reports = yaml.safe_load((REPO / "db" / "reports.yml").read_text(encoding="utf-8"))
    sql = reports["ops"][name]["sql"]
    assert ":_tz_today" not in sql, "this report needs no magic parameter"
    return sql


def fts_where(term: str) -> str:
    """The clause taizhang's ?_search= adds, with the match expression it computes; plain
    Datasette sees no FTS table for customers (no content= link) and has no bigram query."""
    from taizhang.chinese import search_query

    expr = search_query(term).replace("'", "''")
    return f"id in (select rowid from customers_fts where customers_fts match '{expr}')"


def pages() -> list[tuple[str, str, str]]:
    """(label, taizhang path, plain path)."""
    t = "/ops/customers"
    return [
        ("table HTML", t, t),
        ("table JSON", t + ".json", t + ".json"),
        ("facet churn_risk", t + "?_facet=churn_risk", t + "?_facet=churn_risk"),
        ("filter churn_risk=高", f"{t}?churn_risk={q('高')}", f"{t}?churn_risk={q('高')}"),
        (f"search rare ({RARE_TERM})", f"{t}?_search={q(RARE_TERM)}", f"{t}?_where={q(fts_where(RARE_TERM))}"),
        (f"search common ({COMMON_TERM})", f"{t}?_search={q(COMMON_TERM)}", f"{t}?_where={q(fts_where(COMMON_TERM))}"),
        ("report customer_tier_overview", "/ops/customer_tier_overview", f"/ops/-/query?sql={q(report_sql())}"),
    ]


# --------------------------------------------------------------------------------------
# Load generation
# --------------------------------------------------------------------------------------


def get(port: int, path: str, headers: dict, timeout: float = 60) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


WRK_LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local function now_us()
  local ts = ffi.new("bench_timespec")
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  limit = tonumber(args[1]); n = 0; bad = 0; bad_status = 0; t0 = now_us(); t1 = 0
end
function response(status, headers, body)
  if n >= limit then return end
  n = n + 1
  if status ~= 200 then
    bad = bad + 1
    if bad_status == 0 then bad_status = status end
  end
  if n >= limit then
    t1 = now_us()
    io.write("BENCH_STOPPED\n"); io.flush()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local t = threads[1]
  local e = summary.errors
  local t1 = t:get("t1")
  if t1 == 0 then t1 = t:get("t0") + summary.duration end
  io.write(string.format("BENCH_RESULT %d %d %d %d %.1f %.1f %.1f\n",
    t:get("n"), t:get("bad"), t:get("bad_status"),
    e.connect + e.read + e.write + e.timeout,
    t1 - t:get("t0"), latency:percentile(50), latency:percentile(95)))
end
"""


def measure_wrk(lua: pathlib.Path, port: int, path: str, headers: dict, requests: int, concurrency: int, max_seconds: int) -> dict:
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max_seconds}s", "--timeout", "30s", "-s", str(lua)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd += [f"http://{HOST}:{port}{path}", "--", str(requests)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result, output = None, []
    try:
        for line in proc.stdout:
            output.append(line)
            if line.startswith("BENCH_STOPPED") and proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # wrk otherwise runs until -d; SIGINT ends it and prints
            elif line.startswith("BENCH_RESULT"):
                n, bad, bad_status, sock_err, elapsed_us, p50, p95 = line.split()[1:]
                result = {
                    "n": int(n), "bad": int(bad), "bad_status": int(bad_status), "socket_errors": int(sock_err),
                    "elapsed_s": float(elapsed_us) / 1e6, "p50": float(p50) / 1000, "p95": float(p95) / 1000,
                }
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if result is None:
        raise RuntimeError("wrk gave no result:\n" + "".join(output)[-2000:])
    result["rps"] = result["n"] / result["elapsed_s"] if result["elapsed_s"] > 0 else 0.0
    return result


def measure_python(port: int, path: str, headers: dict, requests: int, concurrency: int, max_seconds: int) -> dict:
    """Fallback load generator: one keep-alive http.client connection per worker thread."""
    lock = threading.Lock()
    latencies: list[float] = []
    state = {"issued": 0, "bad": 0, "bad_status": 0, "socket_errors": 0}
    deadline = time.monotonic() + max_seconds

    def worker():
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if state["issued"] >= requests:
                        return
                    state["issued"] += 1
                start = time.perf_counter()
                try:
                    conn.request("GET", path, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, port, timeout=30)
                    with lock:
                        state["socket_errors"] += 1
                    continue
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed * 1000)
                    if status != 200:
                        state["bad"] += 1
                        state["bad_status"] = state["bad_status"] or status
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 60)
    elapsed = time.perf_counter() - t0
    lat = sorted(latencies)

    def pct(p):
        return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] if lat else float("nan")

    return {
        "n": len(lat), "bad": state["bad"], "bad_status": state["bad_status"],
        "socket_errors": state["socket_errors"], "elapsed_s": elapsed,
        "p50": pct(50), "p95": pct(95), "rps": len(lat) / elapsed if elapsed > 0 else 0.0,
    }


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or value != value else f"{value:.{digits}f}"


def cell(result: dict | None, key: str) -> str:
    if result is None:
        return "–"
    text = fmt(result[key], 1)
    return text + ("!" if not result["valid"] else "")


def table_rows(results: dict, labels: list[str], concurrencies: list[int]) -> list[list[str]]:
    rows = []
    for label in labels:
        for c in concurrencies:
            tz, pl = results.get(("taizhang", label, c)), results.get(("plain", label, c))
            lat = tput = target = "–"
            if tz and pl and pl["p50"] > 0 and pl["rps"] > 0:
                lat = fmt(tz["p50"] / pl["p50"], 2)
                tput = fmt(tz["rps"] / pl["rps"], 2)
                ok = tz["valid"] and pl["valid"]
                if c == 1:
                    target = ("yes" if tz["p50"] / pl["p50"] <= 1.0 else "no") + ("" if ok else " (invalid)")
                elif c == 8:
                    target = ("yes" if tz["rps"] / pl["rps"] >= 1.0 else "no") + ("" if ok else " (invalid)")
            rows.append([
                label, str(c),
                cell(tz, "p50"), cell(tz, "p95"), cell(tz, "rps"),
                cell(pl, "p50"), cell(pl, "p95"), cell(pl, "rps"),
                lat, tput, target,
            ])
    return rows


HEADER = [
    "page", "c", "taizhang p50 ms", "taizhang p95 ms", "taizhang req/s",
    "plain p50 ms", "plain p95 ms", "plain req/s",
    "p50 ratio tz/plain", "req/s ratio tz/plain", "meets target",
]


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=bounded(1, MAX_ROWS), default=200_000, help="customers rows (default 200000)")
    p.add_argument("--seed", type=int, default=20250101)
    p.add_argument("--requests-c1", type=bounded(1, MAX_REQUESTS), default=30, help="requests per page at concurrency 1")
    p.add_argument("--requests-c8", type=bounded(1, MAX_REQUESTS), default=80, help="requests per page at concurrency 8")
    p.add_argument("--warmup", type=bounded(0, 50), default=3, help="warm-up requests per page and server")
    p.add_argument("--max-seconds", type=bounded(5, 600), default=120, help="cap per measurement")
    p.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--markdown", metavar="PATH", help="also write the results as Markdown")
    p.add_argument("--only", action="append", metavar="TEXT", help="measure only pages whose label contains TEXT (repeatable)")
    p.add_argument("--keep", action="store_true", help="keep the temp dirs (printed) instead of deleting them")
    p.add_argument("--serve-taizhang", metavar="DATA_DIR", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.serve_taizhang:
        run_taizhang(args.serve_taizhang, args.port)
        return 0

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    if loadgen == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install -y wrk), or use --loadgen python")

    started = datetime.datetime.now().astimezone()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tz-bench-"))
    servers: list[Server] = []
    results: dict = {}
    problems: list[str] = []
    try:
        print(f"building {args.rows:,} customers in {tmp} ...", flush=True)
        t0 = time.perf_counter()
        built = build_data_dir(tmp / "taizhang", args.rows, args.seed)
        build_s = time.perf_counter() - t0
        print(
            f"  built in {build_s:.1f}s (init+insert {built['insert_s']:.1f}s, search index {built['index_s']:.1f}s); "
            f"rows containing {RARE_TERM}: {built['truth'][RARE_TERM]}, {COMMON_TERM}: {built['truth'][COMMON_TERM]}",
            flush=True,
        )
        plain_dir = tmp / "plain"
        plain_dir.mkdir()
        for suffix in ("", "-wal"):
            src = built["data_dir"].path / f"ops.db{suffix}"
            if src.exists():
                shutil.copy2(src, plain_dir / src.name)

        tz_port, plain_port = free_port(), free_port()
        tz_cmd, tz_how = taizhang_command(built["data_dir"].path, tz_port)
        servers.append(Server("taizhang", tz_cmd, tz_port, tmp / "taizhang.log"))
        datasette_bin = pathlib.Path(sys.executable).with_name("datasette")
        plain_cmd = [str(datasette_bin), "serve", str(plain_dir / "ops.db"), "--host", HOST, "--port", str(plain_port)]
        # DATASETTE_LOAD_PLUGINS="" : no installed plugin (datasette-auth-passwords) is loaded.
        servers.append(Server("plain", plain_cmd, plain_port, tmp / "plain.log", env={"DATASETTE_LOAD_PLUGINS": ""}))
        for s in servers:
            s.wait_ready()
        print(f"taizhang [{tz_how}] on :{tz_port}, plain datasette on :{plain_port}; load generator: {loadgen}", flush=True)

        cookie = {"Cookie": f"tz_session={built['token']}"}
        targets = {"taizhang": (tz_port, cookie), "plain": (plain_port, {})}
        page_list = pages()
        lua = tmp / "bench.lua"
        lua.write_text(WRK_LUA)

        # Search sanity: both servers should find the same rows as a LIKE over the data.
        counts = {}
        for name, (port, headers) in targets.items():
            for label, tz_path, plain_path in page_list[4:6]:
                path = (tz_path if name == "taizhang" else plain_path).replace("/ops/customers?", "/ops/customers.json?_extra=count&_size=1&", 1)
                status, body = get(port, path, headers)
                if status == 200:
                    import json

                    counts[(name, label)] = json.loads(body).get("count")
                else:
                    counts[(name, label)] = f"HTTP {status}"

        concurrencies = [1, 8]
        per_c = {1: args.requests_c1, 8: args.requests_c8}
        measured = [p for p in page_list if not args.only or any(t in p[0] for t in args.only)]
        for label, tz_path, plain_path in measured:
            for name, (port, headers) in targets.items():
                path = tz_path if name == "taizhang" else plain_path
                first_bad = None
                for _ in range(args.warmup):
                    status, body = get(port, path, headers)
                    if status != 200 and first_bad is None:
                        first_bad = (status, body)
                for c in concurrencies:
                    if loadgen == "wrk":
                        r = measure_wrk(lua, port, path, headers, per_c[c], c, args.max_seconds)
                    else:
                        r = measure_python(port, path, headers, per_c[c], c, args.max_seconds)
                    r["valid"] = r["bad"] == 0 and r["socket_errors"] == 0 and r["n"] >= per_c[c]
                    results[(name, label, c)] = r
                    if not r["valid"] and first_bad is None:
                        status, body = get(port, path, headers)
                        first_bad = (status, body) if status != 200 else (r["bad_status"], b"")
                    print(
                        f"  {name:8} {label + ' ' * (32 - width(label))} c={c}: p50 {r['p50']:8.1f} ms  p95 {r['p95']:8.1f} ms  "
                        f"{r['rps']:7.1f} req/s  ({r['n']} responses, {r['bad']} non-200, {r['socket_errors']} socket errors)",
                        flush=True,
                    )
                    if r["n"] < per_c[c]:
                        problems.append(f"{name} {label} c={c}: only {r['n']} of {per_c[c]} requests within {args.max_seconds}s")
                if first_bad or any(not results[(name, label, c)]["valid"] for c in concurrencies):
                    bad = sum(results[(name, label, c)]["bad"] for c in concurrencies)
                    errs = sum(results[(name, label, c)]["socket_errors"] for c in concurrencies)
                    status, body = first_bad or (0, b"")
                    problems.append(
                        f"{name} {label} ({path[:120]}): {bad} non-200 responses, {errs} socket errors; "
                        f"status {status}, body: {body[:300].decode('utf-8', 'replace')!r}"
                    )

        rows = table_rows(results, [p[0] for p in measured], concurrencies)
        text = render_text(HEADER, rows)
        print()
        print(text)
        print("\n'!' marks a figure with non-200 responses, socket errors or too few requests (invalid).")
        print("Targets: p50 latency ratio taizhang/plain at c=1 <= 1.0; req/s ratio taizhang/plain at c=8 >= 1.0.")
        count_line = "; ".join(
            f"{label}: taizhang {counts.get(('taizhang', label))}, plain {counts.get(('plain', label))}"
            for label, _, _ in page_list[4:6]
        )
        truth_line = (
            f"rows containing the term (LIKE over the search columns): {RARE_TERM} {built['truth'][RARE_TERM]}, "
            f"{COMMON_TERM} {built['truth'][COMMON_TERM]} (Datasette stops counting filtered rows at 10,000: 10001 means more)"
        )
        print(f"search result counts — {count_line}\n{truth_line}")
        print_problems(problems)

        if args.markdown:
            command = command_line(__file__, argv)
            import datasette

            md = [
                "# Serving benchmark: taizhang vs plain Datasette",
                "",
                f"- Command: `{command}`",
                f"- Date: {started:%Y-%m-%d %H:%M %Z}",
                f"- Machine: {machine()}",
                f"- Datasette {datasette.__version__}; load generator: {loadgen}"
                + (" (1 thread, c keep-alive connections)" if loadgen == "wrk" else " (threads, one keep-alive connection each)"),
                f"- Data: {args.rows:,} customers (seed {args.seed}), built in {build_s:.0f}s "
                f"(init + insert {built['insert_s']:.0f}s, search index {built['index_s']:.0f}s)",
                f"- Requests per page and server: {args.requests_c1} at c=1, {args.requests_c8} at c=8, after {args.warmup} warm-up requests",
                f"- taizhang: {tz_how}, admin session cookie; plain: `datasette serve ops.db` (copy of the same file), default settings, no plugins",
                "",
                render_markdown(HEADER, rows),
                "",
                "Latencies in ms. `!` marks an invalid figure (non-200 responses, socket errors or too few requests).",
                "Targets: p50 latency ratio taizhang/plain at c=1 ≤ 1.0; req/s ratio taizhang/plain at c=8 ≥ 1.0.",
                "",
                f"Search result counts — {count_line}. {truth_line}.",
                "",
            ]
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
