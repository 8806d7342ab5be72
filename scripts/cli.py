"""The `taizhang` command: set up, serve, manage users, check and back up the registers."""

from __future__ import annotations

import asyncio
import pathlib
import secrets

import click

from scripts.options import _require_initialised, data_dir_option
from taizhang import backup as backups
from taizhang import check as checks
from taizhang.datadir import DataDir, init as init_data_dir
from taizhang.schema import ChecksRefused
from taizhang.registers import load


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
    try:
        report = init_data_dir(data_dir)
    except ChecksRefused as ex:   # that file keeps its old rules: the transaction rolled back
        raise click.ClickException(str(ex))
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
        heads = demo.account_heads()
        click.echo("Department heads (部门负责人, who approve their department's requests): "
                   + ", ".join(f"demo-{role} heads {dept}" for role, dept in heads.items()))


REPLICATE_HELP = (
    "Stream ops.db, hr.db and users.db to an object store with Litestream, using this "
    "settings file (default: replica.yml in the data dir, if there is one).")


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
@click.option("--replicate", "replicate", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
              help=REPLICATE_HELP)
def serve(data_dir, host, port, forwarded_allow_ips, replicate):
    """Serve the registers with Datasette.

    \b
    Example:
        taizhang serve --port 8001
        LITESTREAM_ACCESS_KEY_ID=... LITESTREAM_SECRET_ACCESS_KEY=... taizhang serve --replicate replica.yml
    """
    import uvicorn
    from datasette.cli import check_databases

    from taizhang.app import make_datasette
    from taizhang.slow_clients import HeaderTimeoutProtocol

    _require_initialised(data_dir)
    ds = make_datasette(data_dir)
    replicator = _replicator(data_dir, replicate)

    async def watch_replication():
        while True:
            await asyncio.sleep(5)
            replicator.restart_if_stopped()

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
            http=HeaderTimeoutProtocol,   # a client gets 10 s to send a request's head
        )
        click.echo(f"taizhang: http://{host}:{port}/  (data dir {data_dir.path})")
        watcher = asyncio.create_task(watch_replication()) if replicator else None
        try:
            await uvicorn.Server(config).serve()
        finally:
            if watcher:
                watcher.cancel()

    try:
        asyncio.run(run())
    finally:
        if replicator:
            replicator.stop()


def _replicator(data_dir: DataDir, settings_path: pathlib.Path | None):
    """Litestream started for the data dir, or None when replication is not configured."""
    from taizhang import replica

    settings_path = settings_path or data_dir.path / replica.SETTINGS_FILE
    if not settings_path.exists():
        return None
    try:
        replicator = replica.Replicator(data_dir, replica.read_settings(settings_path))
        replicator.start()
    except replica.ReplicaError as ex:
        raise click.ClickException(str(ex))
    click.echo(f"taizhang: replicating with Litestream ({replicator.settings['url']}, "
               f"sync every {replicator.settings['sync-interval']})")
    return replicator


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
@click.argument("folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=pathlib.Path))
@click.option("--from-replica", is_flag=True,
              help="Bring the databases back from the Litestream replica into an empty data dir.")
@click.option("--replicate", "replicate", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
              help="With --from-replica: the replication settings (default: replica.yml in the data dir).")
@click.option("--secret", "secret_file", type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path),
              help="With --from-replica: the instance's secret file, kept apart from the replica.")
def restore(data_dir, folder, from_replica, replicate, secret_file):
    """Put a backup back (a safety copy of the current data is taken first). An encrypted
    backup needs its key in $TAIZHANG_BACKUP_KEY.

    With --from-replica, bring a lost instance back from its replica instead: into an empty
    data dir, with the secret file kept separately.

    \b
    Example:
        taizhang restore db/backups/taizhang-20261121T023000000000Z
        taizhang restore --from-replica --replicate replica.yml --secret /safe/secret --data-dir /srv/new
    """
    if from_replica:
        _restore_from_replica(data_dir, folder, replicate, secret_file)
        return
    if folder is None:
        raise click.UsageError("name the backup folder to restore, or use --from-replica")
    _require_initialised(data_dir)
    try:
        safety = backups.restore(data_dir, folder)
    except backups.BackupError as ex:
        raise click.ClickException(str(ex))
    click.echo(f"Restored {folder.name}; the data before the restore is in {safety}")


def _restore_from_replica(data_dir, folder, settings_path, secret_file):
    from taizhang import audit, replica

    if folder is not None:
        raise click.UsageError("--from-replica restores from the replica, not from a backup folder")
    if secret_file is None:
        raise click.UsageError("--from-replica needs --secret: the instance's secret file (it is not in the replica)")
    settings_path = settings_path or data_dir.path / replica.SETTINGS_FILE
    if not settings_path.exists():
        raise click.UsageError(f"no replication settings: pass --replicate or put {replica.SETTINGS_FILE} in the data dir")
    try:
        counts = replica.restore(data_dir, replica.read_settings(settings_path), secret_file)
    except replica.ReplicaError as ex:
        raise click.ClickException(str(ex))
    key = audit.key_from_secret(data_dir.secret())
    problems = []
    for name in load().databases:
        conn = data_dir.connect(name)
        try:
            problems += audit.verify(conn, key, name)
        finally:
            conn.close()
    click.echo(f"Restored from the replica into {data_dir.path}: "
               + ", ".join(f"{table} {n}" for table, n in counts.items()))
    for line in problems:
        click.echo(line)
    if problems:
        # The data is back either way; what is wrong is for the operator to judge.
        raise click.ClickException(
            "restored, but the audit log does not verify (above): if every seal fails, the --secret "
            "file is not this instance's; otherwise rows were written outside the app")
    click.echo("Audit log verified with the secret. Serve it with --replicate (a new url if the old "
               "instance might still be running: see README, 灾难恢复).")


@cli.group(name="audit")
def audit_group():
    """The audit log: verify its seal."""


@audit_group.command(name="verify")
@data_dir_option
@click.option("--adopt-head", is_flag=True,
              help="Record the current chain head of a database that has no head file (once, after "
              "upgrading from a version without them); other problems are still reported.")
def audit_verify(data_dir, adopt_head):
    """Check the audit log's HMAC chain in every database against its recorded head: a row
    changed, removed or written outside the app, or the newest rows removed with their seals,
    is reported, one line each. Exits 1 when there is any problem.

    \b
    Example:
        taizhang audit verify
    """
    from taizhang import audit, audit_head

    _require_initialised(data_dir)
    key = audit.key_from_secret(data_dir.secret())
    problems, counts = [], []
    for name in load().databases:
        conn = data_dir.connect(name)
        try:
            head_file = audit_head.path_of(conn)
            if adopt_head and not head_file.exists() and audit_head.adopt(conn, key, force=True):
                click.echo(f"{name}.db: recorded the current chain head in {head_file.name}")
            problems += audit.verify(conn, key, name)
            counts.append(f"{name}.db {conn.execute('SELECT count(*) FROM _audit_log').fetchone()[0]}")
        finally:
            conn.close()
    for problem in problems:
        click.echo(str(problem))
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


# The other command groups register themselves on `cli` when imported.
from scripts import import_cli, remind_cli, users_cli  # noqa: E402,F401

if __name__ == "__main__":
    cli()
