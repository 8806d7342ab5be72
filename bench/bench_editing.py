"""Editing-layer benchmark: what inline cell editing (plugins/grid.py + static/grid.js) costs
the customers table page.

Builds a throw-away data dir with N generated customers (bench/bench_serve.py's builder),
copies it three ways and starts three servers on 127.0.0.1, measured in the same run with
requests interleaved round-robin (so drift hits all three alike):

- taizhang with the editing layer, as an editor (grid.js, grid.css and the rules script on the page);
- the same taizhang with the grid plugin unregistered (everything else identical) — the
  difference between these two is the layer's own cost;
- plain `datasette serve` on a copy of the same ops.db, no plugins.

Every request asks for the same page size (`?_size=50`, taizhang's default; plain Datasette's
default is 100). With --browser, Debian's Chromium (Playwright) also loads the page from both
taizhang servers several times and reports the median time to DOMContentLoaded and load.
Not a test: nothing is asserted; it prints the figures and the ratios.

    .venv/bin/python bench/bench_editing.py --rows 200000 --browser --markdown docs/bench-editing.md
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import os
import pathlib
import shutil
import signal
import statistics
import sys
import tempfile
import time

os.environ["TAIZHANG_TEST_FAST_HASH"] = "1"
REPO = pathlib.Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_serve  # noqa: E402  (the data builder and server handling)
from bench_serve import HOST, Server, build_data_dir, free_port, get  # noqa: E402
from report import clean_up, machine, write_markdown  # noqa: E402

PAGE = "/ops/customers?_size=50"
EDITOR = "bench_editor"
TARGET = 1.20   # the layer may add at most 20% to page load


def run_taizhang(data_dir: str, port: int, without_grid: bool) -> None:
    """make_datasette + uvicorn; --without-grid unregisters plugins/grid.py before serving."""
    import asyncio

    import uvicorn
    from datasette.cli import check_databases
    from datasette.plugins import pm

    from taizhang.app import make_datasette
    from taizhang.datadir import DataDir

    async def main():
        ds = make_datasette(DataDir.resolve(data_dir))
        if without_grid:
            pm.unregister(pm.get_plugin("grid.py"))
        await check_databases(ds)
        await ds.invoke_startup()
        config = uvicorn.Config(ds.app(), host=HOST, port=port, log_level="warning", lifespan="on")
        await uvicorn.Server(config).serve()

    asyncio.run(main())


def measure(targets: dict, requests: int, warmup: int) -> dict[str, list[float]]:
    """Sequential requests, interleaved across servers; ms per request for each."""
    times: dict[str, list[float]] = {name: [] for name in targets}
    for i in range(warmup + requests):
        for name, (port, headers) in targets.items():
            t0 = time.perf_counter()
            status, body = get(port, PAGE, headers)
            elapsed = (time.perf_counter() - t0) * 1000
            if status != 200:
                raise RuntimeError(f"{name}: {PAGE} answered {status}: {body[:300]!r}")
            if i >= warmup:
                times[name].append(elapsed)
    return times


def added_bytes(targets: dict) -> dict:
    """What the layer adds to a page: its two static files and the rules script in the HTML."""
    files = {name: (REPO / "static" / name).read_bytes() for name in ("grid.js", "grid.css")}
    with_grid = get(*_args(targets["taizhang+grid"]))[1]
    without = get(*_args(targets["taizhang−grid"]))[1]
    assert b"/assets/grid.js" in with_grid and b"grid.js" not in without, "the two servers must differ by the layer"
    return {
        "grid.js": len(files["grid.js"]), "grid.js gzip": len(gzip.compress(files["grid.js"])),
        "grid.css": len(files["grid.css"]), "grid.css gzip": len(gzip.compress(files["grid.css"])),
        "HTML difference": len(with_grid) - len(without),
    }


def _args(target):
    port, headers = target
    return port, PAGE, headers


def browser_times(targets: dict, token: str, runs: int) -> dict[str, dict[str, float]]:
    """Median DOMContentLoaded / load (ms, from navigation start) in Chromium, per server."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            samples = {name: {"dom": [], "load": []} for name in targets if name.startswith("taizhang")}
            for i in range(runs + 1):
                for name in samples:
                    port = targets[name][0]
                    context = browser.new_context()
                    context.add_cookies([{"name": "tz_session", "value": token, "domain": HOST, "path": "/"}])
                    page = context.new_page()
                    page.goto(f"http://{HOST}:{port}{PAGE}", wait_until="load")
                    timing = page.evaluate("""() => { const t = performance.getEntriesByType('navigation')[0];
                        return [t.domContentLoadedEventEnd, t.loadEventEnd]; }""")
                    context.close()
                    if i:   # the first round warms the server and the browser
                        samples[name]["dom"].append(timing[0])
                        samples[name]["load"].append(timing[1])
            for name, s in samples.items():
                out[name] = {k: statistics.median(v) for k, v in s.items()}
        finally:
            browser.close()
    return out


def stats(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def report(args, build_s, times, sizes, browser) -> list[str]:
    p50 = {name: stats(v)[0] for name, v in times.items()}
    lines = [
        "# Editing-layer benchmark: the customers table page with inline editing vs without",
        "",
        f"- Command: `.venv/bin/python bench/bench_editing.py --rows {args.rows} --requests {args.requests}"
        + (f" --browser --runs {args.runs}" if args.browser else "") + " --markdown docs/bench-editing.md`",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Data: {args.rows:,} customers (seed {args.seed}), built in {build_s:.0f}s",
        f"- Page: `{PAGE}` (HTML), {args.requests} sequential requests per server after {args.warmup} warm-up,"
        " interleaved round-robin across the three servers",
        "- taizhang+grid: editor session, editing layer on; taizhang−grid: the same app with plugins/grid.py"
        " unregistered; plain: `datasette serve ops.db` (copy of the same file), no plugins",
        "",
        "| server | p50 ms | p95 ms | p50 ratio to taizhang−grid | p50 ratio to plain |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        median, p95 = stats(values)
        lines.append(f"| {name} | {median:.1f} | {p95:.1f} | {median / p50['taizhang−grid']:.2f} | {median / p50['plain']:.2f} |")
    layer = p50["taizhang+grid"] / p50["taizhang−grid"]
    lines += [
        "",
        f"Server time added by the layer (p50, taizhang+grid / taizhang−grid): **{layer:.2f}** — target ≤ {TARGET:.2f}:"
        f" {'met' if layer <= TARGET else 'NOT met'}.",
        "",
        "| bytes the layer adds | raw | gzip |",
        "|---|---:|---:|",
        f"| static/grid.js | {sizes['grid.js']:,} | {sizes['grid.js gzip']:,} |",
        f"| static/grid.css | {sizes['grid.css']:,} | {sizes['grid.css gzip']:,} |",
        f"| table page HTML (two tags + rules script) | {sizes['HTML difference']:,} | |",
    ]
    if browser:
        lines += [
            "",
            f"Chromium (Debian, headless), median of {args.runs} fresh loads each, ms from navigation start:",
            "",
            "| server | DOMContentLoaded | load |",
            "|---|---:|---:|",
        ]
        for name, t in browser.items():
            lines.append(f"| {name} | {t['dom']:.1f} | {t['load']:.1f} |")
        ratio = browser["taizhang+grid"]["load"] / browser["taizhang−grid"]["load"]
        lines += ["", f"Browser load ratio taizhang+grid / taizhang−grid: **{ratio:.2f}** (target ≤ {TARGET:.2f})."]
    return lines


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--browser", action="store_true", help="also time page loads in Chromium")
    parser.add_argument("--runs", type=int, default=9, help="browser loads per server")
    parser.add_argument("--markdown", type=pathlib.Path)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--without-grid", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.serve:
        run_taizhang(args.serve, args.port, args.without_grid)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tz-bench-editing-"))
    servers: list[Server] = []
    try:
        print(f"building {args.rows:,} customers in {tmp} ...", flush=True)
        t0 = time.perf_counter()
        built = build_data_dir(tmp / "grid", args.rows, args.seed)
        store = built["data_dir"].users()
        try:
            store.add(EDITOR, "Bench-Editor-2025!", "editor")
            token = store.start_session(EDITOR)
        finally:
            store.close()
        build_s = time.perf_counter() - t0
        shutil.copytree(tmp / "grid", tmp / "nogrid")
        (tmp / "plain").mkdir()
        shutil.copy2(tmp / "grid" / "ops.db", tmp / "plain" / "ops.db")
        ports = {name: free_port() for name in ("taizhang+grid", "taizhang−grid", "plain")}
        me = [sys.executable, str(pathlib.Path(__file__).resolve())]
        servers = [
            Server("taizhang+grid", [*me, "--serve", str(tmp / "grid"), "--port", str(ports["taizhang+grid"])],
                   ports["taizhang+grid"], tmp / "grid.log"),
            Server("taizhang−grid", [*me, "--serve", str(tmp / "nogrid"), "--port", str(ports["taizhang−grid"]),
                                     "--without-grid"], ports["taizhang−grid"], tmp / "nogrid.log"),
            Server("plain", [str(pathlib.Path(sys.executable).with_name("datasette")), "serve", str(tmp / "plain" / "ops.db"),
                             "--host", HOST, "--port", str(ports["plain"])], ports["plain"], tmp / "plain.log",
                   env={"DATASETTE_LOAD_PLUGINS": ""}),
        ]
        for server in servers:
            server.wait_ready()
        cookie = {"Cookie": f"tz_session={token}"}
        targets = {"taizhang+grid": (ports["taizhang+grid"], cookie), "taizhang−grid": (ports["taizhang−grid"], cookie),
                   "plain": (ports["plain"], {})}
        sizes = added_bytes(targets)
        print(f"measuring {PAGE}: {args.requests} requests per server ...", flush=True)
        times = measure(targets, args.requests, args.warmup)
        browser = browser_times(targets, token, args.runs) if args.browser else None
        lines = report(args, build_s, times, sizes, browser)
        print("\n".join(lines))
        if args.markdown:
            write_markdown(args.markdown, lines)
    except KeyboardInterrupt:
        return 130
    finally:
        clean_up(tmp, servers=servers)
    return 0


if __name__ == "__main__":
    assert bench_serve  # imported for its helpers
    sys.exit(main())
