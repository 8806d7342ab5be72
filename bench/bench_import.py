"""Import benchmark: `taizhang import` of a large customers workbook against a bare ceiling.

Builds an N-row customers workbook (default 200,000 rows, deterministic) laid out like the real
samples (title row, blank row, header row with 序号), then measures on the same file:

1. The bare ceiling: python-calamine reading the sheet alone, and calamine plus one
   `executemany` into a bare 18-column table (no constraints, triggers or indexes) in one
   transaction in a fresh WAL SQLite file.
2. The full import, end to end (`engine.import_files` on a fresh `taizhang init` data dir, in
   a fresh subprocess), and each layer of it in process on one `Run`: read (`read`: open_workbook,
   header detection, cell parsing), validate (`resolve` + `check_cross_references` + `check`),
   write (`write`) three times on fresh data dirs — as is; with `search.drain` made a no-op; and
   with that and the customers audit triggers dropped — to separate the audit cost and the
   search-index upkeep, which is also timed on its own (`search.drain` of the queued rows).
3. Peak RSS (VmHWM) of the bare reader and of the full import, each in a fresh subprocess.

Not a test: nothing is asserted. It prints rows/s per layer and ratios against the ceiling
measured in the same run; with --markdown it writes them to a file.

    .venv/bin/python bench/bench_import.py --markdown docs/bench-import.md

Temp dirs are removed on exit, Ctrl-C included; child processes are bounded by --timeout.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import io
import json
import pathlib
import pstats
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = pathlib.Path(__file__).resolve().parent
REPO = BENCH.parent
for entry in (str(REPO), str(BENCH)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from report import (bounded, clean_up, command_line, machine, markdown_problems, print_problems,  # noqa: E402
                    render_markdown, render_text, write_markdown)

TABLE = "customers"
TITLE = "客户档案（基准测试）"
HEADERS = [
    "序号", "客户编号", "客户名称", "客户类型", "客户层级", "联系人", "联系电话", "邮箱", "地址", "来源渠道",
    "客户经理", "首次购买日期", "最近购买日期", "累计消费（元）", "行为偏好", "流失风险", "最近回访日期", "备注",
]
HEADER_ROW = 2  # 0-based: title, blank, header — as in tests/samples/customers.xlsx
TIERS = ("重要客户", "普通客户", "潜在客户")  # seeded by `taizhang init`
TARGET_CEILING = 0.5  # import (without search upkeep) / bare ceiling, from the issue
TARGET_MEMORY = 1.2  # full import peak RSS / reader peak RSS


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def peak_rss_kb() -> int:
    """This process's peak resident set size in KiB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or value != value else f"{value:,.{digits}f}"


def rate(rows: int, seconds: float | None) -> str:
    return f"{rows / seconds:,.0f}" if seconds else "–"


def ratio(a: float | None, b: float | None, digits: int = 2) -> str:
    return f"{a / b:.{digits}f}" if a is not None and b else "–"


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂兰燕辉玲华飞鹏宇浩凯晨欣怡子涵梓轩雨婷佳琪博文思远嘉怡一鸣建国志强海燕春梅晓东丹丹雪梅")
CITIES = [
    ("北京市", ["朝阳区", "海淀区", "东城区", "西城区"]), ("上海市", ["浦东新区", "徐汇区", "静安区", "黄浦区"]),
    ("广州市", ["天河区", "越秀区", "海珠区"]), ("深圳市", ["南山区", "福田区", "宝安区"]),
    ("杭州市", ["西湖区", "滨江区", "余杭区"]), ("南京市", ["鼓楼区", "玄武区", "江宁区"]),
    ("成都市", ["锦江区", "武侯区", "高新区"]), ("武汉市", ["江汉区", "武昌区", "洪山区"]),
    ("西安市", ["雁塔区", "碑林区"]), ("厦门市", ["思明区", "湖里区"]),
]
ROADS = ["人民路", "解放路", "中山路", "建设路", "长江路", "文化路", "新华路", "和平路", "科技路", "滨江大道"]
FIRMS = ["华信", "宏达", "恒通", "瑞丰", "金鼎", "鸿运", "天成", "嘉禾", "博远", "盛世", "安泰", "聚源"]
TRADES = ["贸易", "科技", "餐饮管理", "文化传媒", "电子商务", "物流", "食品", "建材", "医药", "酒店管理"]
SOURCES = ["线上商城", "门店", "展会", "老客户推荐", "电话营销", "微信公众号", "抖音", "合作渠道"]
PREFERENCES = [
    "偏好周末到店", "喜欢新品试用", "关注折扣活动", "常购有机蔬菜", "偏爱进口红酒", "需要开具发票",
    "习惯线上下单", "对价格较敏感", "喜欢手冲咖啡", "常买母婴用品", "重视售后服务", "偏好送货上门",
]
NOTES = ["上月投诉已处理", "已加企业微信", "春节前需回访", "对接人近期更换", "付款及时", "曾有退货记录", "年底有采购计划"]
MAILS = ["qq.com", "163.com", "126.com", "foxmail.com", "example.com"]


def customer_rows(n: int, seed: int):
    """Rows as the sheet holds them (序号 first); dates as date objects, the phone as text."""
    rng = random.Random(seed)
    start, end = datetime.date(2015, 1, 1).toordinal(), datetime.date(2025, 6, 30).toordinal()
    for i in range(1, n + 1):
        city, districts = rng.choice(CITIES)
        person = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        company = rng.random() < 0.35
        name = f"{city[:-1]}{rng.choice(FIRMS)}{rng.choice(TRADES)}有限公司" if company else person
        first = rng.randint(start, end)
        last = rng.randint(first, end) if rng.random() < 0.85 else None
        visit = rng.randint(first, end) if rng.random() < 0.7 else None
        yield [
            i,
            f"KH{i:07d}",
            name,
            "企业" if company else "个人",
            rng.choices(TIERS, weights=(15, 50, 35))[0],
            person if company else None,
            f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}",
            f"kh{i}@{rng.choice(MAILS)}" if rng.random() < 0.6 else None,
            f"{city}{rng.choice(districts)}{rng.choice(ROADS)}{rng.randint(1, 999)}号",
            rng.choice(SOURCES),
            None,  # 客户经理: left empty (no employees in a fresh data dir)
            datetime.date.fromordinal(first),
            datetime.date.fromordinal(last) if last else None,
            round(rng.lognormvariate(8.5, 1.2), 2),
            "；".join(rng.sample(PREFERENCES, rng.randint(0, 3))) or None,
            rng.choices(("低", "中", "高"), weights=(60, 28, 12))[0],
            datetime.date.fromordinal(visit) if visit else None,
            "；".join(rng.sample(NOTES, rng.randint(0, 2))) or None,
        ]


def build_workbook(path: pathlib.Path, rows: int, seed: int) -> float:
    import openpyxl

    t0 = time.perf_counter()
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("客户档案")
    ws.append([TITLE])
    ws.append([])
    ws.append(HEADERS)
    for row in customer_rows(rows, seed):
        ws.append(row)
    wb.save(path)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------
# Child processes (peak memory, end-to-end import)
# --------------------------------------------------------------------------------------


def child(kind: str, path: str, data_dir: str | None) -> dict:
    """Runs in a fresh interpreter; returns what it measured (printed as one JSON line)."""
    out: dict = {"kind": kind}
    if kind == "reader":
        import python_calamine

        t0 = time.perf_counter()
        rows = python_calamine.CalamineWorkbook.from_path(path).get_sheet_by_index(0).to_python()
        out["seconds"] = time.perf_counter() - t0
        out["rows"] = len(rows)
    elif kind == "imports":  # the interpreter with everything the import loads, doing nothing
        import python_calamine  # noqa: F401
        from taizhang.importer import engine  # noqa: F401
        from taizhang.registers import load

        load()
    elif kind == "open_workbook":
        from taizhang.importer.files import open_workbook

        t0 = time.perf_counter()
        book = open_workbook(pathlib.Path(path))
        out["seconds"] = time.perf_counter() - t0
        out["rows"] = len(book.sheets[0].rows)
    elif kind == "import":
        from taizhang import search
        from taizhang.datadir import DataDir
        from taizhang.importer import engine

        spent = [0.0]
        original = search.drain

        def timed_drain(conn, definition):
            t = time.perf_counter()
            try:
                return original(conn, definition)
            finally:
                spent[0] += time.perf_counter() - t

        search.drain = timed_drain
        t0 = time.perf_counter()
        run = engine.import_files(DataDir.resolve(data_dir), [pathlib.Path(path)], actor="bench")
        out["seconds"] = time.perf_counter() - t0
        out["drain_seconds"] = spent[0]
        out["counts"] = run.counts
        out["problems"] = len(run.problems)
        out["first_problems"] = [f"row {p.row} {p.column}: {p.reason}" for p in run.problems[:3]]
        out["written"] = run.written
    out["peak_rss_kb"] = peak_rss_kb()
    return out


def run_child(kind: str, path: pathlib.Path, timeout: int, data_dir: pathlib.Path | None = None) -> dict:
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--child", kind, "--child-path", str(path)]
    if data_dir is not None:
        cmd += ["--child-data-dir", str(data_dir)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"child {kind} failed ({proc.returncode}):\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------
# 1. Bare ceiling
# --------------------------------------------------------------------------------------


def bare_reader(path: pathlib.Path) -> tuple[float, list]:
    import python_calamine

    t0 = time.perf_counter()
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    return time.perf_counter() - t0, rows


def bare_ceiling(path: pathlib.Path, db_path: pathlib.Path) -> dict:
    """calamine + executemany into a bare table, one transaction, fresh WAL file."""
    import python_calamine

    # Dates go in as ISO text, as the import stores them (C isoformat, no Python adapter).
    sqlite3.register_adapter(datetime.date, datetime.date.isoformat)
    sqlite3.register_adapter(datetime.datetime, datetime.datetime.isoformat)
    t0 = time.perf_counter()
    rows = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    t1 = time.perf_counter()
    data = rows[HEADER_ROW + 1 :]
    ncols = len(rows[HEADER_ROW])
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")  # as `taizhang init` sets it
        conn.execute(f"CREATE TABLE bare ({', '.join(f'c{i}' for i in range(ncols))})")
        conn.execute("BEGIN")
        conn.executemany(f"INSERT INTO bare VALUES ({', '.join('?' * ncols)})", data)
        conn.execute("COMMIT")
        t2 = time.perf_counter()
        stored = conn.execute("SELECT count(*) FROM bare").fetchone()[0]
    finally:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    return {"read_s": t1 - t0, "insert_s": t2 - t1, "total_s": t2 - t0, "rows": len(data), "stored": stored, "cols": ncols}


# --------------------------------------------------------------------------------------
# 2. The import, layer by layer
# --------------------------------------------------------------------------------------


def fresh_data_dir(path: pathlib.Path, definition):
    from taizhang.datadir import DataDir, init

    data_dir = DataDir.resolve(path)
    init(data_dir, definition)
    return data_dir


def drop_audit_triggers(db_path: pathlib.Path, table: str) -> list[str]:
    """Drop the tz_audit_<table>_* triggers (not the log's append-only ones); their names."""
    from taizhang import audit

    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        names = list(audit.table_triggers(conn, table))
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        if missing := [n for n in names if n not in present]:
            raise RuntimeError(f"{db_path}: audit triggers not found: {missing}")
        for name in names:
            conn.execute(f'DROP TRIGGER "{name}"')
    finally:
        conn.close()
    return names


def reset_written_state(run) -> None:
    """Let the same checked Run be written again to another fresh data dir."""
    run.counts, run.written = {}, False
    for plan in run.plans:
        for record in plan.records:
            record.row_id = None
            if record.outcome != "duplicate":
                record.outcome = None


def timed_write(run, data_dir, definition, drain: bool) -> dict:
    """engine.write, with search.drain timed (drain=True) or made a no-op (drain=False)."""
    from taizhang import audit, search
    from taizhang.importer import engine

    reset_written_state(run)
    who = audit.Who(actor="bench", role=None, source="import", batch_id=run.batch_id, note="bench_import")
    spent = [0.0]
    original = search.drain

    def patched(conn, d):
        t = time.perf_counter()
        try:
            return original(conn, d) if drain else 0
        finally:
            spent[0] += time.perf_counter() - t

    search.drain = patched
    try:
        t0 = time.perf_counter()
        engine.write(run, data_dir, definition, who)
        seconds = time.perf_counter() - t0
    finally:
        search.drain = original
    conn = data_dir.connect("ops")
    try:
        counted = {
            "stored": conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0],
            "audit_rows": conn.execute(f"SELECT count(*) FROM {audit.LOG} WHERE table_name = ?", [TABLE]).fetchone()[0],
            "queued": conn.execute("SELECT count(*) FROM _search_queue").fetchone()[0],
        }
    finally:
        conn.close()
    return {"seconds": seconds, "drain_s": spent[0], "written": run.written,
            "inserted": run.counts.get(TABLE, {}).get("inserted", 0), "problems": len(run.problems), **counted}


def drain_alone(data_dir, definition) -> dict:
    """search.drain of every queued row, in its own transaction (commit included)."""
    from taizhang import search

    conn = data_dir.connect("ops")
    try:
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        n = search.drain(conn, definition)
        t1 = time.perf_counter()
        conn.execute("COMMIT")
        t2 = time.perf_counter()
    finally:
        conn.close()
    return {"seconds": t2 - t0, "drain_s": t1 - t0, "rows": n}


def layers(path: pathlib.Path, tmp: pathlib.Path, definition, problems: list[str]) -> dict:
    from taizhang.importer import engine
    from taizhang.importer.files import open_workbook

    out: dict = {}
    t0 = time.perf_counter()
    book = open_workbook(path)
    out["open_workbook_s"] = time.perf_counter() - t0
    del book

    dirs = {name: fresh_data_dir(tmp / f"dd-{name}", definition) for name in ("full", "nodrain", "noaudit")}
    out["dropped"] = drop_audit_triggers(dirs["noaudit"].database("ops"), TABLE)

    run = engine.Run(engine.new_batch_id(), "upsert")
    t0 = time.perf_counter()
    engine.read(run, [path], definition)
    out["read_s"] = time.perf_counter() - t0
    out["records"] = sum(len(p.records) for p in run.plans)
    print(f"  read      {out['read_s']:7.2f}s  ({out['records']:,} records; open_workbook alone {out['open_workbook_s']:.2f}s)", flush=True)

    t0 = time.perf_counter()
    engine.resolve(run, dirs["full"], definition)
    t1 = time.perf_counter()
    engine.check_cross_references(run, dirs["full"], definition)
    t2 = time.perf_counter()
    engine.check(run, definition)
    t3 = time.perf_counter()
    out.update(resolve_s=t1 - t0, xref_s=t2 - t1, check_s=t3 - t2, validate_s=t3 - t0)
    print(f"  validate  {out['validate_s']:7.2f}s  (resolve {t1 - t0:.2f}s, cross-references {t2 - t1:.2f}s, check {t3 - t2:.2f}s); "
          f"{len(run.problems)} problems", flush=True)
    if run.problems:
        problems.append(f"validate: {len(run.problems)} problems, first: "
                        + "; ".join(f"row {p.row} {p.column}: {p.reason}" for p in run.problems[:3]))
        return out

    for name, drain in (("full", True), ("nodrain", False), ("noaudit", False)):
        w = timed_write(run, dirs[name], definition, drain)
        out[f"write_{name}"] = w
        print(f"  write {name:8} {w['seconds']:7.2f}s  (drain {w['drain_s']:.2f}s; inserted {w['inserted']:,}, "
              f"stored {w['stored']:,}, audit rows {w['audit_rows']:,}, still queued {w['queued']:,})", flush=True)
        expected_audit = 0 if name == "noaudit" else out["records"]
        expected_queue = out["records"] if name != "full" else 0
        if (w["stored"], w["audit_rows"], w["queued"], w["written"]) != (out["records"], expected_audit, expected_queue, True):
            problems.append(f"write {name}: written {w['written']}, stored {w['stored']}, audit rows {w['audit_rows']}, "
                            f"queued {w['queued']} (expected {out['records']}, {expected_audit}, {expected_queue})")

    d = drain_alone(dirs["nodrain"], definition)
    out["drain_alone"] = d
    print(f"  search.drain alone {d['seconds']:7.2f}s  ({d['rows']:,} queued rows; commit {d['seconds'] - d['drain_s']:.2f}s)", flush=True)
    if d["rows"] != out["records"]:
        problems.append(f"search.drain alone processed {d['rows']} rows, expected {out['records']}")
    return out


def profile_layers(path: pathlib.Path, tmp: pathlib.Path, definition, top: int) -> dict[str, str]:
    """cProfile of read, validate and write (as is), on a fresh data dir: top lines by cumulative time."""
    from taizhang import audit
    from taizhang.importer import engine

    data_dir = fresh_data_dir(tmp / "dd-profile", definition)
    run = engine.Run(engine.new_batch_id(), "upsert")
    who = audit.Who(actor="bench", role=None, source="import", batch_id=run.batch_id, note="bench_import profile")
    steps = {
        "read": lambda: engine.read(run, [path], definition),
        "validate": lambda: (engine.resolve(run, data_dir, definition), engine.check_cross_references(run, data_dir, definition),
                             engine.check(run, definition)),
        "write": lambda: engine.write(run, data_dir, definition, who),
    }
    out = {}
    for name, step in steps.items():
        prof = cProfile.Profile()
        prof.enable()
        step()
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("cumulative").print_stats(top)
        text = buf.getvalue()
        start = text.find("   ncalls")
        out[name] = text[start:].rstrip() if start >= 0 else text.rstrip()
        print(f"\nprofile: {name} (top {top} by cumulative time)\n{out[name]}", flush=True)
    return out


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def tables(res: dict, args) -> list[tuple[str, list[str], list[list[str]]]]:
    n = res["rows"]
    bare = res["bare"]
    ceiling_s = bare["total_s"]
    out = []
    e2e = res.get("e2e")
    lay = res.get("layers", {})
    e2e_s = e2e["seconds"] if e2e else None

    def row(label, seconds, note="", rows=n):
        return [label, fmt(seconds, 2), rate(rows, seconds), ratio(ceiling_s, seconds), (f"{seconds / e2e_s:.0%}" if e2e_s and seconds is not None else "–"), note]

    rows = [
        row("(a) reader alone: calamine to_python", res["reader_s"], f"median of {args.repeat}"),
        row("(b) bare ceiling: calamine + executemany, bare table", ceiling_s,
            f"median of {args.repeat}; read {bare['read_s']:.2f}s + insert {bare['insert_s']:.2f}s, {bare['cols']} columns"),
    ]
    if e2e:
        core = e2e_s - e2e["drain_seconds"]
        rows.append(row("full import, end to end (import_files)", e2e_s, "fresh subprocess, fresh data dir"))
        rows.append(row("  … minus search-index upkeep (search.drain)", core,
                        f"drain inside the write: {e2e['drain_seconds']:.2f}s"))
    if "read_s" in lay:
        rows.append(row("read: open_workbook + headers + cell parsing", lay["read_s"], "engine.read"))
        rows.append(row("  of which open_workbook (calamine + safety checks)", lay["open_workbook_s"], "timed separately"))
    if "validate_s" in lay:
        rows.append(row("validate: resolve + cross-refs + check", lay["validate_s"],
                        f"resolve {lay['resolve_s']:.2f}s, cross-refs {lay['xref_s']:.2f}s, check {lay['check_s']:.2f}s"))
    if "write_full" in lay:
        wf, wn, wa, da = lay["write_full"], lay["write_nodrain"], lay["write_noaudit"], lay["drain_alone"]
        rows.append(row("write, audit on, search.drain no-op", wn["seconds"], "engine.write; rows + audit + seal + commit"))
        rows.append(row("  write, audit triggers dropped, drain no-op", wa["seconds"], "tz_audit_customers_* dropped"))
        rows.append(row("  = audit cost (difference)", wn["seconds"] - wa["seconds"], "triggers + log rows + HMAC seal"))
        rows.append(row("write as is (audit + search.drain)", wf["seconds"], f"drain inside: {wf['drain_s']:.2f}s"))
        rows.append(row("search upkeep: drain inside the write", wf["drain_s"], "timed around search.drain"))
        rows.append(row("search upkeep: search.drain alone + commit", da["seconds"], "queued rows of the no-op run"))
        core = lay["read_s"] + lay["validate_s"] + wn["seconds"]
        rows.append(row("layers: read + validate + write (audit, no drain)", core, "sum of the layers above"))
    out.append((f"1. Throughput, {n:,} customers rows (rows/s; ceiling / layer = the layer's speed as a fraction of (b))",
                ["measurement", "seconds", "rows/s", "vs ceiling (b)", "of full import", "note"], rows))

    summary = []
    if e2e:
        core = e2e_s - e2e["drain_seconds"]
        summary.append(["import minus search upkeep (end to end) / bare ceiling", ratio(ceiling_s, core),
                        f"≥ {TARGET_CEILING}", "yes" if ceiling_s / core >= TARGET_CEILING else "no"])
    if "write_full" in lay:
        core = lay["read_s"] + lay["validate_s"] + lay["write_nodrain"]["seconds"]
        summary.append(["read + validate + write + audit (layers) / bare ceiling", ratio(ceiling_s, core),
                        f"≥ {TARGET_CEILING}", "yes" if ceiling_s / core >= TARGET_CEILING else "no"])
        summary.append(["search-index upkeep (drain inside the write) / bare ceiling", ratio(ceiling_s, lay["write_full"]["drain_s"]),
                        "reported", "–"])
    if e2e:
        summary.append(["search-index upkeep, share of the full import", f"{e2e['drain_seconds'] / e2e_s:.0%}", "reported", "–"])
    if summary:
        out.append(("2. Against the targets", ["ratio", "value", "target", "met"], summary))

    mem = res.get("memory")
    if mem:
        reader = mem["reader"]["peak_rss_kb"]
        mrows = []
        for key, label in (("imports", "interpreter + taizhang/calamine imports, no work"), ("reader", "(a) reader alone: calamine to_python"),
                           ("open_workbook", "taizhang open_workbook"), ("import", "full import (import_files)")):
            if key in mem:
                kb = mem[key]["peak_rss_kb"]
                mrows.append([label, fmt(kb / 1024, 0), ratio(kb, reader), f"≤ {TARGET_MEMORY}" if key == "import" else "",
                              ("yes" if kb / reader <= TARGET_MEMORY else "no") if key == "import" else ""])
        out.append(("3. Peak memory (VmHWM of a fresh subprocess, MiB)", ["process", "peak RSS MiB", "vs reader", "target", "met"], mrows))
    return out


def dominant(res: dict) -> list[str]:
    """A data-driven paragraph: which part of the import the time goes to."""
    lay, e2e = res.get("layers", {}), res.get("e2e")
    if "write_full" not in lay:
        return []
    n = res["rows"]
    parts = {
        "reading (open_workbook: calamine, zip/XML safety checks, sha256, formula scan)": lay["open_workbook_s"],
        "turning cells into records (header detection, parse_cell per cell, Record objects)": lay["read_s"] - lay["open_workbook_s"],
        "validation (resolve, cross-references, check)": lay["validate_s"],
        "writing the rows (per-row SELECT + SAVEPOINT + INSERT, other triggers, commit)": lay["write_noaudit"]["seconds"],
        "the audit log (triggers, log rows, HMAC seal)": lay["write_nodrain"]["seconds"] - lay["write_noaudit"]["seconds"],
        "search-index upkeep (search.drain)": lay["write_full"]["drain_s"],
    }
    total = sum(parts.values())
    ranked = sorted(parts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{name} {sec:.1f}s ({sec / total:.0%})" for name, sec in ranked)
    bare = res["bare"]
    para = [
        f"Summed layer by layer, the {n:,}-row import spends {total:.1f}s: {text}. "
        f"The bare ceiling spends {bare['read_s']:.1f}s in calamine and {bare['insert_s']:.1f}s in one executemany.",
    ]
    if e2e:
        para.append(f"End to end (one process, `import_files`) the import took {e2e['seconds']:.1f}s, "
                    f"{e2e['seconds'] / bare['total_s']:.1f}× the bare ceiling's {bare['total_s']:.1f}s.")
    return para


def notes(res: dict, args) -> list[str]:
    n = res["rows"]
    out = [
        f"Workbook: one sheet, title row, blank row, then the real customers headers (序号 + the 17 columns of "
        f"tests/samples/customers.xlsx); {n:,} rows from random.Random({args.seed}); dates as date cells "
        "(最近购买日期 ≥ 首次购买日期, some empty), 联系电话 as text, 累计消费（元） as numbers, 客户层级 by tier name "
        "(重要客户/普通客户/潜在客户, seeded by `taizhang init`), 客户经理 empty. Written with openpyxl write_only "
        f"in {res['build_s']:.1f}s; {res['size'] / 1e6:.1f} MB.",
        "Bare ceiling: `CalamineWorkbook.from_path(p).get_sheet_by_index(0).to_python()`, then the rows under the "
        f"header passed as they are (dates adapted to ISO text by `date.isoformat`) to one `executemany` into a table "
        f"of {res['bare']['cols']} untyped columns, no constraints/indexes/triggers, in one transaction in a fresh "
        "WAL-mode file (the journal mode `taizhang init` sets; default synchronous).",
        "Full import: `engine.import_files(data_dir, [path], actor='bench')` in a fresh subprocess on a fresh "
        "`taizhang init` data dir (mode upsert: every row inserted); `search.drain` wrapped with a timer.",
        "Layers: in this process, one `Run` read and validated once, then written three times to fresh data dirs "
        "(per-record row ids reset between writes): as is; with `taizhang.search.drain` replaced by a no-op (the "
        "`_search_queue` rows stay queued, the search-queue triggers still run); and with that plus the three "
        "`tz_audit_customers_*` triggers dropped. Other triggers (updated_at, search queue, canonical values, "
        "cross-reference queue) run in all three. `search.drain alone` drains the no-op run's queued rows in a "
        "transaction of its own, commit included.",
        "Memory: peak RSS (VmHWM) at the end of a fresh subprocess that does only that step; the full import's "
        "child is the end-to-end run above.",
    ]
    if args.repeat > 1:
        out.append(f"The two bare measurements are medians of {args.repeat} runs; every import layer ran once.")
    return out


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=bounded(100, 1_000_000), default=200_000, help="customers rows (default 200000)")
    p.add_argument("--seed", type=int, default=20250601)
    p.add_argument("--repeat", type=bounded(1, 9), default=3, help="runs of each bare measurement, median (default 3)")
    p.add_argument("--skip", action="append", choices=("e2e", "layers", "memory"), default=[], help="skip a part (repeatable)")
    p.add_argument("--profile", action="store_true", help="also cProfile read, validate and write (an extra, slower pass)")
    p.add_argument("--profile-top", type=bounded(5, 60), default=15, help="lines per profile (default 15)")
    p.add_argument("--timeout", type=bounded(30, 3600), default=900, help="seconds allowed per child process")
    p.add_argument("--markdown", metavar="PATH", help="also write the results as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (printed) instead of deleting it")
    p.add_argument("--child", choices=("reader", "imports", "open_workbook", "import"), help=argparse.SUPPRESS)
    p.add_argument("--child-path", help=argparse.SUPPRESS)
    p.add_argument("--child-data-dir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.child_path, args.child_data_dir), ensure_ascii=False))
        return 0

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    from taizhang.registers import load

    definition = load()
    started = datetime.datetime.now().astimezone()
    t_start = time.perf_counter()
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tz-bench-import-"))
    skip = set(args.skip)
    res: dict = {"rows": args.rows}
    problems: list[str] = []
    try:
        path = tmp / "customers-bench.xlsx"
        print(f"building {args.rows:,}-row workbook {path} ...", flush=True)
        res["build_s"] = build_workbook(path, args.rows, args.seed)
        res["size"] = path.stat().st_size
        print(f"  {res['size'] / 1e6:.1f} MB in {res['build_s']:.1f}s", flush=True)

        print("1. bare ceiling", flush=True)
        reader_runs, bare_runs = [], []
        for i in range(args.repeat):
            seconds, rows = bare_reader(path)
            reader_runs.append(seconds)
            del rows
            b = bare_ceiling(path, tmp / f"bare-{i}.db")
            bare_runs.append(b)
            print(f"  run {i + 1}: reader {seconds:.2f}s; reader + executemany {b['total_s']:.2f}s "
                  f"(read {b['read_s']:.2f}s, insert {b['insert_s']:.2f}s, {b['stored']:,} rows stored)", flush=True)
            if b["stored"] != args.rows:
                problems.append(f"bare table holds {b['stored']} rows, expected {args.rows}")
        res["reader_s"] = statistics.median(reader_runs)
        res["bare"] = sorted(bare_runs, key=lambda b: b["total_s"])[len(bare_runs) // 2]

        if "e2e" not in skip or "memory" not in skip:
            print("2. full import, end to end (fresh subprocess, fresh data dir)", flush=True)
            dd = tmp / "dd-e2e"
            fresh_data_dir(dd, definition)
            e2e = run_child("import", path, args.timeout, dd)
            shutil.rmtree(dd, ignore_errors=True)
            inserted = e2e["counts"].get(TABLE, {}).get("inserted", 0)
            print(f"  {e2e['seconds']:.2f}s ({args.rows / e2e['seconds']:,.0f} rows/s; search.drain {e2e['drain_seconds']:.2f}s), "
                  f"inserted {inserted:,}, problems {e2e['problems']}, peak RSS {e2e['peak_rss_kb'] / 1024:.0f} MiB", flush=True)
            if not e2e["written"] or inserted != args.rows:
                problems.append(f"end-to-end import: written {e2e['written']}, inserted {inserted}, "
                                f"problems {e2e['problems']} {e2e['first_problems']}")
            if "e2e" not in skip:
                res["e2e"] = e2e
            if "memory" not in skip:
                print("3. peak memory (fresh subprocesses)", flush=True)
                mem = {"import": e2e}
                for kind in ("imports", "reader", "open_workbook"):
                    mem[kind] = run_child(kind, path, args.timeout)
                    print(f"  {kind:13} peak RSS {mem[kind]['peak_rss_kb'] / 1024:6.0f} MiB", flush=True)
                print(f"  {'import':13} peak RSS {e2e['peak_rss_kb'] / 1024:6.0f} MiB", flush=True)
                res["memory"] = mem

        if "layers" not in skip:
            print("4. layers, in process", flush=True)
            res["layers"] = layers(path, tmp, definition, problems)
            for name in ("full", "nodrain", "noaudit"):
                shutil.rmtree(tmp / f"dd-{name}", ignore_errors=True)

        profiles = {}
        if args.profile:
            print("5. profiles (cProfile; slower than the timings above)", flush=True)
            profiles = profile_layers(path, tmp, definition, args.profile_top)

        total_s = time.perf_counter() - t_start
        rendered = tables(res, args)
        print()
        for title, header, rows in rendered:
            print(title)
            print(render_text(header, rows))
            print()
        para = dominant(res)
        note_list = notes(res, args)
        for line in para + note_list:
            print("- " + line)
        print(f"Whole run: {total_s:.0f}s.")
        print_problems(problems)

        if args.markdown:
            command = command_line(__file__, argv)
            md = [
                "# Import benchmark: a large customers workbook against a bare ceiling",
                "",
                f"- Command: `{command}`",
                f"- Date: {started:%Y-%m-%d %H:%M %Z}",
                f"- Machine: {machine()}",
                f"- File: {args.rows:,} customers rows, {res['size'] / 1e6:.1f} MB xlsx ({res['size']:,} bytes)",
                f"- Whole run: {total_s:.0f}s",
                "",
            ]
            for title, header, rows in rendered:
                md += [f"## {title}", "", render_markdown(header, rows), ""]
            if para:
                md += ["## What dominates the cost", ""] + [line for p in para for line in (p, "")]
            md += ["## How it was measured", ""] + [f"- {line}" for line in note_list] + [""]
            if profiles:
                md += ["## Profiles (cProfile, top lines by cumulative time)", ""]
                for name, text in profiles.items():
                    md += [f"### {name}", "", "```", text, "```", ""]
            md += markdown_problems(problems)
            write_markdown(args.markdown, md)
        return 1 if problems else 0
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        clean_up(tmp, args.keep)


if __name__ == "__main__":
    sys.exit(main())
