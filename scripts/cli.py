"""The `taizhang` command: set up, serve, manage users, check and back up the registers."""

from __future__ import annotations

import asyncio
import functools
import pathlib
import secrets
import sys

import click

from taizhang import backup as backups
from taizhang import check as checks
from taizhang.datadir import DataDir, init as init_data_dir
from taizhang.registers import load
from taizhang.users import UserError


def data_dir_option(fn):
    """--data-dir, shared by every command: where the databases, user store and secret live."""

    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=pathlib.Path),
        envvar="TAIZHANG_DATA_DIR",
        help="Folder holding ops.db, hr.db, users.db, internal.db and the secret "
        "(default: db/ in the project; env TAIZHANG_DATA_DIR).",
    )
    @functools.wraps(fn)
    def wrapper(data_dir, **kwargs):
        return fn(data_dir=DataDir.resolve(data_dir), **kwargs)

    return wrapper


def _require_initialised(data_dir: DataDir) -> None:
    if not data_dir.exists(load()):
        raise click.ClickException(
            f"{data_dir.path} has no registers yet: run `taizhang init --data-dir {data_dir.path}` first"
        )


@click.group()
@click.version_option(package_name="taizhang")
def cli():
    """taizhang (台账): an operations department's registers, served by Datasette."""


@cli.command()
@data_dir_option
@click.option("--demo", is_flag=True, help="Fill every register with demo data and create one login per role.")
def init(data_dir, demo):
    """Create or upgrade the databases; safe to run again (a second run changes nothing).

    Applies pending migrations to ops.db and hr.db, rebuilds triggers, indexes and search
    tables from db/registers.yml, and creates the user store and the secret. Never prompts
    and creates no users (except with --demo).

    \b
    Example:
        taizhang init
        taizhang init --demo --data-dir /tmp/demo
    """
    report = init_data_dir(data_dir)
    for name, changes in report.items():
        if changes:
            click.echo(f"{name}.db: {len(changes)} change(s): {', '.join(changes[:6])}{' …' if len(changes) > 6 else ''}")
        else:
            click.echo(f"{name}.db: up to date")
    if demo:
        _demo(data_dir)


def _demo(data_dir: DataDir) -> None:
    from taizhang import demo

    counts = demo.fill(data_dir)
    if any(counts.values()):
        click.echo("Demo data: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    else:
        click.echo("Demo data: already present, nothing added")
    store = data_dir.users()
    created = []
    try:
        for role, employee_no in demo.DEMO_ACCOUNTS.items():
            username = f"demo-{role}"
            if store.get(username):
                continue
            password = secrets.token_urlsafe(9) + "-Tz7"
            store.add(username, password, role, employee_no)
            created.append((username, role, employee_no, password))
    finally:
        store.close()
    if created:
        click.echo("\nDemo logins (passwords are shown only this once):")
        for username, role, employee_no, password in created:
            click.echo(f"  {username:<14} role {role:<8} 工号 {employee_no}  password: {password}")


@cli.command()
@data_dir_option
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=8001, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Reverse proxy addresses whose X-Forwarded-Proto/-For headers are trusted "
    "(e.g. 127.0.0.1). Default: none.",
)
def serve(data_dir, host, port, forwarded_allow_ips):
    """Serve the registers with Datasette.

    \b
    Example:
        taizhang serve --port 8001
    """
    import uvicorn
    from datasette.cli import check_databases

    from taizhang.app import make_datasette

    _require_initialised(data_dir)
    ds = make_datasette(data_dir)

    async def run():
        await check_databases(ds)
        await ds.invoke_startup()
        config = uvicorn.Config(
            ds.app(),
            host=host,
            port=port,
            log_level="info",
            lifespan="on",
            proxy_headers=bool(forwarded_allow_ips),
            forwarded_allow_ips=forwarded_allow_ips,
        )
        click.echo(f"taizhang: http://{host}:{port}/  (data dir {data_dir.path})")
        await uvicorn.Server(config).serve()

    asyncio.run(run())


# -- users ---------------------------------------------------------------------------------
@cli.group()
def user():
    """Manage logins: add, passwd, role, remove, list."""


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise click.ClickException("no password on standard input")
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _user_command(fn):
    """Runs fn(store, ...) with the data dir's user store; user errors become one line."""

    @data_dir_option
    @functools.wraps(fn)
    def wrapper(data_dir, **kwargs):
        store = data_dir.users()
        try:
            return fn(store=store, **kwargs)
        except UserError as ex:
            raise click.ClickException(str(ex))
        finally:
            store.close()

    return wrapper


ROLE = click.Choice(list(load().roles))


@user.command(name="add")
@click.argument("username")
@click.option("--role", required=True, type=ROLE, help="The user's role.")
@click.option("--employee", "employee_no", help="工号 of the employee this login belongs to.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_user_command
def user_add(store, username, role, employee_no, password_stdin):
    """Add a login. The password is prompted twice and never echoed.

    \b
    Example:
        taizhang user add wangfang --role editor --employee 00023
        echo 'S3cret-password' | taizhang user add ci --role viewer --password-stdin
    """
    store.add(username, _read_password(password_stdin), role, employee_no)
    click.echo(f"Added {username} ({role})")


@user.command(name="passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@_user_command
def user_passwd(store, username, password_stdin):
    """Set a user's password; their open sessions end."""
    store.set_password(username, _read_password(password_stdin))
    click.echo(f"Password changed for {username}")


@user.command(name="role")
@click.argument("username")
@click.argument("role", type=ROLE)
@_user_command
def user_role(store, username, role):
    """Change a user's role; it applies from their next request."""
    store.set_role(username, role)
    click.echo(f"{username} is now {role}")


@user.command(name="remove")
@click.argument("username")
@_user_command
def user_remove(store, username):
    """Remove a login; their sessions end at once."""
    store.remove(username)
    click.echo(f"Removed {username}")


@user.command(name="list")
@_user_command
def user_list(store):
    """List logins with their role and linked 工号."""
    for u in store.list():
        click.echo(f"{u.username}\t{u.role}\t{u.employee_no or ''}")


# -- maintenance ---------------------------------------------------------------------------
@cli.command()
@data_dir_option
@click.option("--fix", is_flag=True, help="Also bring the search index up to date.")
def check(data_dir, fix):
    """Report integrity problems: corruption, broken references, dangling 工号/partner
    names in hr.db, search index backlog. Exits 1 when there is any.

    \b
    Example:
        taizhang check
    """
    _require_initialised(data_dir)
    found = checks.problems(data_dir, fix=fix)
    for line in found:
        click.echo(line)
    if found:
        raise SystemExit(1)
    click.echo("OK: no problems found")


@cli.command()
@data_dir_option
@click.option("--dest", type=click.Path(file_okay=False, path_type=pathlib.Path),
              help="Folder for backups (default: <data dir>/backups).")
@click.option("--keep", type=click.IntRange(1), help="Keep only the newest N backups in --dest.")
@click.option("--encrypt", is_flag=True,
              help=f"Encrypt hr.db, users.db and the secret with the key in ${backups.KEY_ENV}.")
@click.option("--new-key", is_flag=True, help="Print a new encryption key and exit.")
def backup(data_dir, dest, keep, encrypt, new_key):
    """Make a consistent online copy of the data dir (safe while the server runs) and check it.

    \b
    Example (cron, nightly at 02:30, keep two weeks, confidential files encrypted):
        30 2 * * * cd /srv/taizhang && TAIZHANG_BACKUP_KEY=$(cat /etc/taizhang/backup.key) .venv/bin/taizhang backup --encrypt --keep 14
    """
    if new_key:
        click.echo(backups.new_key())
        return
    _require_initialised(data_dir)
    try:
        folder = backups.backup(data_dir, dest, keep, encrypt=encrypt)
    except backups.BackupError as ex:
        raise click.ClickException(str(ex))
    click.echo(f"Backup written and checked: {folder}")


@cli.command()
@data_dir_option
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path))
def restore(data_dir, folder):
    """Put a backup back (a safety copy of the current data is taken first). An encrypted
    backup needs its key in $TAIZHANG_BACKUP_KEY.

    \b
    Example:
        taizhang restore db/backups/taizhang-20261121T023000000000Z
    """
    _require_initialised(data_dir)
    try:
        safety = backups.restore(data_dir, folder)
    except backups.BackupError as ex:
        raise click.ClickException(str(ex))
    click.echo(f"Restored {folder.name}; the data before the restore is in {safety}")


def _pairs(ctx, param, values):
    pairs = {}
    for value in values:
        header, sep, column = value.partition("=")
        if not sep or not header.strip() or not column.strip():
            raise click.BadParameter(f"{value!r}: use HEADER=column, e.g. --map 手机=phone")
        pairs[header.strip()] = column.strip()
    return pairs


@cli.command(name="import")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@data_dir_option
@click.option("--register", type=click.Choice(list(load().registers)),
              help="The register the sheets hold (default: detected from the headers).")
@click.option("--sheet", help="Only this sheet (also reads a hidden one).")
@click.option("--mode", type=click.Choice(["upsert", "append", "replace"]), default="upsert", show_default=True,
              help="upsert: add new rows, update changed ones; append: only new keys; replace: the file "
                   "becomes the register (refused if other registers refer to rows that would go).")
@click.option("--dry-run", is_flag=True, help="Check everything and report; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Write the valid rows, report the rest (rows only: an "
              "unknown or missing column still stops the run).")
@click.option("--map", "mapping", multiple=True, callback=_pairs,
              help="HEADER=column: what a header means (column.part for a reference part). Repeatable.")
@click.option("--ignore", multiple=True, help="A header to leave out (harmless if absent). Repeatable.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="Write the per-cell report (.xlsx) here.")
@click.option("--actor", help="Who is importing, for the audit log (default: the system user).")
@click.option("--quiet", is_flag=True, help="No progress or summary, only errors.")
def import_(files, data_dir, register, sheet, mode, dry_run, skip_invalid, mapping, ignore, report_path, actor, quiet):
    """Import Excel (.xlsx) or CSV files into the registers — all files of one command are one
    run: references resolve across them in any order, and by default a run with any rejected row
    writes nothing.

    \b
    Example:
        taizhang import departments.xlsx employees.xlsx
        taizhang import 客户.xlsx --register customers --map 手机=phone --report 问题.xlsx
        taizhang import partners.xlsx --dry-run
    """
    import getpass

    from taizhang.importer.engine import ImportFileError, ImportStopped, import_files
    from taizhang.importer.report import write_report

    _require_initialised(data_dir)
    say = (lambda *a, **k: None) if quiet else click.echo
    bar = None if quiet else _ProgressBar()
    try:
        run = import_files(
            data_dir, list(files), register=register, sheet=sheet, mode=mode, dry_run=dry_run,
            skip_invalid=skip_invalid, mapping=mapping, ignore=set(ignore), actor=actor or getpass.getuser(),
            progress=bar,
        )
    except (ImportFileError, ImportStopped) as ex:
        raise click.ClickException(str(ex))
    finally:
        if bar:
            bar.close()
    for plan in run.plans:
        say(f"{plan.file.name}「{plan.sheet}」→ {plan.register.label}（{plan.register.name}），"
            f"表头在第 {plan.layout.header_row + 1} 行，{len(plan.records)} 行数据")
    for notice in run.notices:
        say(f"  提示：{notice}")
    for problem in run.problems[:20]:
        where = f"{problem.file}「{problem.sheet}」" + (f"第 {problem.row} 行" if problem.row else "")
        column = f"“{problem.column}”列" if problem.column else ""
        click.echo(f"  问题：{where}{column}：{problem.reason}（值：{problem.value}）— {problem.hint}", err=True)
    if len(run.problems) > 20:
        click.echo(f"  …… 共 {len(run.problems)} 个问题，见 --report", err=True)
    if report_path:
        write_report(run, report_path)
        say(f"报告：{report_path}")
    summary = _summary(run.counts)
    if run.written:
        say(f"已导入（批次 {run.batch_id}）：{summary}")
        return
    if dry_run and not run.problems:
        say(f"试运行通过，未写入：{summary}")
        return
    raise click.ClickException(f"有 {len(run.problems)} 个问题，什么都没有写入（可用 --report 导出问题清单，或 --skip-invalid 只导入有效行）")


class _ProgressBar:
    """click's progress bar, one per phase, with rows/s; shown only for files large enough to
    report progress at all (the engine calls every 1,000 rows)."""

    def __init__(self):
        self.bar, self.phase, self.done, self.started = None, None, 0, None

    def __call__(self, phase: str, done: int, total: int) -> None:
        import time

        if phase != self.phase:
            self.close()
            self.phase, self.done, self.started = phase, 0, time.monotonic()
            self.bar = click.progressbar(
                length=total, label=phase, show_pos=True, file=sys.stderr,
                item_show_func=lambda _: f"{self.done / max(time.monotonic() - self.started, 1e-6):,.0f} 行/秒",
            )
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _summary(counts: dict) -> str:
    parts = []
    for register, c in counts.items():
        text = (f"{load().registers[register].label} 新增 {c['inserted']} 更新 {c['updated']}"
                f" 未变 {c['unchanged']} 拒绝 {c['rejected']}")
        if c.get("deleted"):
            text += f" 删除 {c['deleted']}"
        parts.append(text)
    return "，".join(parts)


@cli.group()
def imports():
    """Import batches: list them, undo one."""


@imports.command(name="list")
@data_dir_option
def imports_list(data_dir):
    """List import batches, newest first."""
    from taizhang.importer.batches import list_batches

    _require_initialised(data_dir)
    for b in list_batches(data_dir):
        files = "、".join(f["name"] for f in b["files"])
        counts = "，".join(f"{r} +{c['inserted']} ~{c['updated']}" for r, c in b["counts"].items())
        click.echo(f"{b['id']}\t{b['status']}\t{b['actor'] or ''}\t{b['mode']}\t{files}\t{counts}")


@imports.command(name="undo")
@click.argument("batch")
@data_dir_option
@click.option("--actor", help="Who is undoing, for the audit log.")
def imports_undo(data_dir, batch, actor):
    """Undo an import batch: inserted rows removed, updated rows put back. Refused (and
    explained) when a later change touched the same rows.

    \b
    Example:
        taizhang imports undo I20261121-073012-ab12
    """
    import getpass

    from taizhang.importer.batches import UndoRefused, undo

    _require_initialised(data_dir)
    try:
        undone = undo(data_dir, batch, actor or getpass.getuser())
    except UndoRefused as ex:
        raise click.ClickException(str(ex))
    click.echo(f"已撤销批次 {batch}：" + "，".join(f"{t} {n} 行" for t, n in undone.items()))


@cli.group()
def token():
    """API tokens: create one that acts as a user."""


@token.command(name="create")
@click.argument("username")
@click.option("--ttl", type=click.IntRange(1), required=True,
              help="Lifetime in seconds (at most the max_signed_tokens_ttl setting, 30 days).")
@data_dir_option
def token_create(data_dir, username, ttl):
    """Print an API token that acts as USERNAME, with that user's role as it is at each
    request (demoting or removing the user applies to their tokens at once).

    \b
    Example:
        taizhang token create report-bot --ttl 86400
        curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8001/ops/customers.json
    """
    from taizhang.app import make_datasette

    _require_initialised(data_dir)
    store = data_dir.users()
    try:
        if store.get(username) is None:
            raise click.ClickException(f"用户 {username} 不存在：先用 taizhang user add 创建")
    finally:
        store.close()
    ds = make_datasette(data_dir)
    limit = ds.setting("max_signed_tokens_ttl")
    if ttl > limit:
        raise click.ClickException(f"--ttl {ttl} exceeds the limit of {limit} seconds (max_signed_tokens_ttl)")
    click.echo(asyncio.run(ds.create_token(username, expires_after=ttl)))


@cli.group(name="audit")
def audit_group():
    """The audit log: verify its seal."""


@audit_group.command(name="verify")
@data_dir_option
def audit_verify(data_dir):
    """Check the audit log's HMAC chain in every database: a row changed, removed or forged
    outside the app is reported. Exits 1 when there is any problem.

    \b
    Example:
        taizhang audit verify
    """
    from taizhang import audit

    _require_initialised(data_dir)
    key = audit.key_from_secret(data_dir.secret())
    problems, counts = [], []
    for name in load().databases:
        conn = data_dir.connect(name)
        try:
            problems += audit.verify(conn, key, name)
            counts.append(f"{name}.db {conn.execute('SELECT count(*) FROM _audit_log').fetchone()[0]}")
        finally:
            conn.close()
    for line in problems:
        click.echo(line)
    if problems:
        raise SystemExit(1)
    click.echo(f"OK: audit log intact ({', '.join(counts)} entries)")


@cli.command()
@click.option("--check", "check_only", is_flag=True, help="Exit 1 if the files are out of date; write nothing.")
def generate(check_only):
    """Regenerate metadata.yml and datasette.yml from db/registers.yml and db/reports.yml."""
    from taizhang import generate as gen

    if check_only:
        stale = [p.name for p, text in gen.expected_files().items()
                 if not p.exists() or p.read_text(encoding="utf-8") != text]
        if stale:
            raise click.ClickException(f"out of date: {', '.join(stale)}; run `taizhang generate`")
        click.echo("up to date")
        return
    written = gen.write_files()
    click.echo("wrote " + ", ".join(p.name for p in written) if written else "up to date")


if __name__ == "__main__":
    cli()
