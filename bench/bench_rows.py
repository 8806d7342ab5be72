"""Row-level access benchmark: what narrowing a register to the reader's rows costs
(taizhang/row_access.py, docs/row-access.md).

Builds a throw-away data dir with a department tree, 2,000 employees and N leave requests
(100,000 by default, 50 per employee), then measures in the same run, requests interleaved
round-robin so that drift hits every variant alike, through the real app in process
(`ds.client`, real SQLite file, no network):

- the leave requests table page (HTML: rows, count, the three facets) as an employee (own rows),
  as a department head (own rows and a department tree of ~10% of the staff) and as an admin,
  who is not narrowed; and the admin's page filtered (`?applicant_id=`) to the employee's rows,
  so that the condition's own cost shows apart from reading fewer rows;
- one state change (status 草稿 ⇄ 已提交 through core's JSON API, /-/update) as the employee on
  their own row, as the head on a row of their department, and as the admin, whose write skips
  the row-access triggers.

Ratios are against the admin's unfiltered page and the admin's write. Not a test: nothing is
asserted; it prints the figures and, with --markdown, writes them to a file.

    .venv/bin/python bench/bench_rows.py --markdown docs/bench-rows.md
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import pathlib
import statistics
import sys
import tempfile
import time

os.environ["TAIZHANG_TEST_FAST_HASH"] = "1"
REPO = pathlib.Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from report import (bounded, clean_up, command_line, machine, render_markdown, render_text,  # noqa: E402
                    write_markdown)

PAGE = "/ops/leave_requests"
TARGET = 1.20
EMPLOYEES = 2000
# A tree of departments: 10 top ones, each with 4 below, each of those with 1 below (60).
TOP, CHILDREN, GRANDCHILDREN = 10, 4, 1


def build(data_dir, rows: int) -> dict:
    """The data dir, filled by a plain connection (no login: no row-access triggers run).
    Returns the ids the measurements use."""
    from taizhang.datadir import init

    init(data_dir)
    conn = data_dir.connect("ops")
    conn.execute("BEGIN")
    departments = []
    for t in range(TOP):
        top = len(departments) + 1
        departments.append((top, f"部门{t}", None))
        for c in range(CHILDREN):
            child = len(departments) + 1
            departments.append((child, f"部门{t}-{c}", top))
            for g in range(GRANDCHILDREN):
                departments.append((len(departments) + 1, f"部门{t}-{c}-{g}", child))
    conn.executemany("INSERT INTO departments (id, name, parent_id) VALUES (?, ?, ?)", departments)
    conn.executemany(
        "INSERT INTO employees (id, employee_no, name, department_id, status) VALUES (?, ?, ?, ?, '在职')",
        [(i, f"{i:05d}", f"员工{i}", (i - 1) % len(departments) + 1) for i in range(1, EMPLOYEES + 1)])
    # Department 1 (a top one, with its 8 below: 9 of 60 departments, ~15% of the staff) is
    # headed by employee 1; employee 2 is someone in department 2.
    conn.execute("UPDATE departments SET manager_id = 1 WHERE id = 1")
    per = max(1, rows // EMPLOYEES)
    kinds = ["事假", "病假", "年假", "调休"]
    start = datetime.date(2020, 1, 1)
    batch = []
    for i in range(rows):
        applicant = i % EMPLOYEES + 1
        day = start + datetime.timedelta(days=(i // EMPLOYEES) * 3 + applicant % 3)
        batch.append((applicant, (applicant - 1) % len(departments) + 1, kinds[i % 4], day.isoformat(), day.isoformat(),
                      1, f"事由{i}", ["草稿", "已提交", "已批准"][i % 3]))
        if len(batch) == 5000:
            conn.executemany("INSERT INTO leave_requests (applicant_id, department_id, kind, starts_on, ends_on, days,"
                             " reason, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch = []
    if batch:
        conn.executemany("INSERT INTO leave_requests (applicant_id, department_id, kind, starts_on, ends_on, days,"
                         " reason, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    ids = {
        "employee_row": conn.execute("SELECT min(id) FROM leave_requests WHERE applicant_id = 2").fetchone()[0],
        # a member of department 1's tree other than the head: department 2 is below department 1
        "head_row": conn.execute("SELECT min(id) FROM leave_requests WHERE applicant_id = 3").fetchone()[0],
        "admin_row": conn.execute("SELECT min(id) FROM leave_requests WHERE applicant_id = 4").fetchone()[0],
    }
    conn.close()
    print(f"built {rows} leave requests, {per} per employee, {len(departments)} departments")
    return ids


ACTORS = {
    "employee": {"id": "bench-employee", "roles": ["employee"], "employee_no": "00002"},
    "department_head": {"id": "bench-head", "roles": ["employee", "department_head"], "employee_no": "00001"},
    "admin": {"id": "bench-admin", "roles": ["admin"]},
}


async def measure(ds, ids: dict, requests: int, warmup: int) -> dict[str, list[float]]:
    pages = {
        "page: employee": (PAGE, ACTORS["employee"]),
        "page: department_head": (PAGE, ACTORS["department_head"]),
        "page: admin": (PAGE, ACTORS["admin"]),
        "page: admin, ?applicant_id= the employee's": (PAGE + "?applicant_id=2", ACTORS["admin"]),
    }
    writes = {
        "state change: employee": (ids["employee_row"], ACTORS["employee"]),
        "state change: department_head": (ids["head_row"], ACTORS["department_head"]),
        "state change: admin": (ids["admin_row"], ACTORS["admin"]),
    }
    times: dict[str, list[float]] = {name: [] for name in [*pages, *writes]}
    states = ["已提交", "草稿"]
    for i in range(warmup + requests):
        for name, (url, who) in pages.items():
            t0 = time.perf_counter()
            response = await ds.client.get(url, actor=who)
            elapsed = (time.perf_counter() - t0) * 1000
            assert response.status_code == 200, (name, response.status_code, response.text[:300])
            if i >= warmup:
                times[name].append(elapsed)
        for name, (row_id, who) in writes.items():
            t0 = time.perf_counter()
            response = await ds.client.post(f"{PAGE}/{row_id}/-/update", json={"update": {"status": states[i % 2]}},
                                            actor=who)
            elapsed = (time.perf_counter() - t0) * 1000
            assert response.status_code == 200, (name, response.status_code, response.text[:300])
            if i >= warmup:
                times[name].append(elapsed)
    return times


def table(times: dict[str, list[float]]) -> tuple[list[str], list[list[str]]]:
    header = ["measurement", "median ms", "p90 ms", "ratio to admin"]
    rows = []
    for name, values in times.items():
        baseline = times["page: admin" if name.startswith("page") else "state change: admin"]
        ratio = statistics.median(values) / statistics.median(baseline)
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) >= 10 else max(values)
        rows.append([name, f"{statistics.median(values):.1f}", f"{p90:.1f}", f"{ratio:.2f}"])
    return header, rows


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=bounded(1000, 1_000_000), default=100_000, help="leave requests (default 100000)")
    p.add_argument("--requests", type=bounded(5, 1000), default=40, help="requests per variant (default 40)")
    p.add_argument("--warmup", type=bounded(0, 100), default=5, help="unmeasured rounds first (default 5)")
    p.add_argument("--markdown", metavar="PATH", help="also write the results as Markdown")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (printed) instead of deleting it")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from taizhang.app import make_datasette
    from taizhang.datadir import DataDir

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-rows-"))
    try:
        data_dir = DataDir.resolve(tmp / "data")
        ids = build(data_dir, args.rows)

        async def run():
            ds = make_datasette(data_dir)
            await ds.invoke_startup()
            return await measure(ds, ids, args.requests, args.warmup)

        times = asyncio.run(run())
    finally:
        clean_up(tmp, keep=args.keep)
    header, rows = table(times)
    print(render_text(header, rows))
    worst = max(float(r[3]) for r in rows if not r[0].startswith("page: admin") and not r[0].endswith("admin"))
    verdict = f"worst narrowed/admin ratio {worst:.2f} (target ≤ {TARGET:.2f}): {'met' if worst <= TARGET else 'NOT met'}"
    print(verdict)
    if args.markdown:
        write_markdown(args.markdown, [
            "# Row-level access: benchmark", "",
            f"`{command_line(__file__, argv)}` on {machine()}, {datetime.date.today().isoformat()}.", "",
            f"{args.rows:,} leave requests, {EMPLOYEES:,} employees in a tree of "
            f"{TOP * (1 + CHILDREN * (1 + GRANDCHILDREN))} departments; {args.requests} requests per variant after "
            f"{args.warmup} warm-up rounds, interleaved, in process (`ds.client`: the app's work without the network).", "",
            render_markdown(header, rows), "", verdict, "",
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
