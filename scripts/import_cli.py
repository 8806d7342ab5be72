"""`taizhang import …` and `taizhang imports list|undo`: Excel into the registers."""

from __future__ import annotations

import pathlib
import sys

import click

from scripts.cli import cli
from scripts.options import _require_initialised, data_dir_option
from taizhang.registers import load


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
@click.option("--actor", metavar="USERNAME", help="The login (taizhang user list) this import runs as: its role's "
              "rights are checked and the batch is theirs to undo in the browser. Without it the batch is "
              "recorded as the command line's (cli:<system user>), undone in the browser only by admins.")
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
    from taizhang.importer.engine import ImportFileError, ImportStopped, import_files
    from taizhang.importer.report import write_report

    _require_initialised(data_dir)
    account = _account(data_dir, actor)
    say = (lambda *a, **k: None) if quiet else click.echo
    bar = None if quiet else _ProgressBar()
    try:
        run = import_files(
            data_dir, list(files), register=register, sheet=sheet, mode=mode, dry_run=dry_run,
            skip_invalid=skip_invalid, mapping=mapping, ignore=set(ignore), progress=bar, **account,
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


def _account(data_dir, username: str | None) -> dict:
    """Who a command runs as: a users.db login (--actor), with that role's rights and the
    account key as the batch's owner; or, without --actor, the command line itself — trusted
    like any shell on the server, owned by no web login (so a login that happens to share the
    system user's name gets nothing of it)."""
    import getpass

    from taizhang.importer import rights

    if username is None:
        return {"actor": f"cli:{getpass.getuser()}", "role": None, "owner": None, "allowed": None}
    store = data_dir.users(load())
    try:
        user, owner = store.get(username), store.account_id(username)
    finally:
        store.close()
    if user is None:
        raise click.ClickException(f"没有登录名 {username}：--actor 须是 taizhang user list 中的用户（不加 --actor 则记为命令行操作）")
    return {"actor": user.username, "role": user.role, "owner": owner, "allowed": rights.for_role(load(), user.role)}


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
@click.option("--actor", metavar="USERNAME", help="The login this undo runs as: only its own batches (any, for an "
              "admin), and its role must now have every right the undo needs. Without it: the command line "
              "(cli:<system user>), any batch.")
def imports_undo(data_dir, batch, actor):
    """Undo an import batch: inserted rows removed, updated rows put back. Refused (and
    explained) when a later change touched the same rows.

    \b
    Example:
        taizhang imports undo I20261121-073012-ab12
    """
    from taizhang.importer.batches import UndoRefused, undo

    _require_initialised(data_dir)
    account = _account(data_dir, actor)
    if account["role"] not in (None, "admin"):   # as in the browser: a login undoes only its own batches
        from taizhang.importer.batches import list_batches

        if not any(b["id"] == batch and b["owner"] == account["owner"] for b in list_batches(data_dir)):
            raise click.ClickException(f"批次 {batch} 不是 {actor} 导入的：只能撤销自己的导入批次（管理员除外）")
    try:
        undone = undo(data_dir, batch, account["actor"], role=account["role"], allowed=account["allowed"])
    except UndoRefused as ex:
        raise click.ClickException(str(ex))
    click.echo(f"已撤销批次 {batch}：" + "，".join(f"{t} {n} 行" for t, n in undone.items()))
