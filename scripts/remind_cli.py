"""`taizhang remind`: send the reminders and escalations that are due (taizhang/reminders.py)."""

from __future__ import annotations

import datetime

import click

from scripts.cli import cli
from scripts.options import _require_initialised, data_dir_option
from taizhang import clock, notify_channels, reminders

NOW_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


def _now(value: str | None) -> datetime.datetime:
    """--now / TAIZHANG_NOW: local time of the instance's zone ('2026-11-21 09:00'), or an ISO
    time with its offset; the real time when not given."""
    if not value:
        return datetime.datetime.now(datetime.timezone.utc)
    try:
        parsed = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise click.BadParameter(f"「{value}」不是时间，请写成 2026-11-21 09:00（本地时间）", param_hint="--now")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=clock.timezone())


def _line(reminder: reminders.Reminder, channel: str) -> str:
    person, row = reminder.recipient, reminder.row
    level = reminders.due.levels(reminder.register.due[row["rule"]])[row["level"]].label
    return f"  [{level}] {channel} → {person['name']}（{person['employee_no']}）：{reminder.message(None).subject}"


@cli.command()
@data_dir_option
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send and record nothing.")
@click.option("--now", "now_text", envvar="TAIZHANG_NOW", metavar="'YYYY-MM-DD HH:MM'",
              help="Act as if it were this local time (env TAIZHANG_NOW); default: now.")
def remind(data_dir, dry_run, now_text):
    """Send the reminders and escalations that are due, each once (cron-able: run it every few
    minutes; a second run sends nothing new, a failed send is retried at the next run).

    Channels are set in notify.yml in the data dir (e-mail over SMTP, 企业微信/钉钉/飞书 robots,
    a JSON webhook); the SMTP password comes from $TAIZHANG_SMTP_PASSWORD. Exits 1 when a send
    failed.

    \b
    Example (cron, every 10 minutes):
        */10 * * * * cd /srv/taizhang && .venv/bin/taizhang remind >> /var/log/taizhang-remind.log 2>&1
    """
    _require_initialised(data_dir)
    data_dir.make_private()
    now = _now(now_text)
    try:
        settings = notify_channels.load(data_dir.path)
    except notify_channels.SettingsError as ex:
        raise click.ClickException(str(ex))
    if settings is None or not settings.channels:
        if not dry_run:
            raise click.ClickException(
                f"数据目录 {data_dir.path} 中没有可用的 {notify_channels.SETTINGS_FILE}（邮件或网络钩子）："
                "请先配置，或用 --dry-run 只看要发送的提醒")
        outcome = reminders.due_reminders(data_dir, now)
        click.echo(f"（试运行，未配置发送渠道）到 {clock.now(now):%Y-%m-%d %H:%M} 应发送 {len(outcome.pending)} 条提醒：")
        for reminder in outcome.pending:
            click.echo(_line(reminder, "—"))
    else:
        try:
            outcome = reminders.run(data_dir, now, settings, dry_run=dry_run)
        except reminders.AlreadyRunning:
            click.echo("另一个 taizhang remind 正在运行：本次不发送（它会发完到期的提醒）", err=True)
            return
        when = f"{clock.now(now):%Y-%m-%d %H:%M}"
        if dry_run:
            click.echo(f"（试运行，不发送）到 {when} 将发送 {len(outcome.sent)} 条提醒：")
        else:
            click.echo(f"{when}：已发送 {len(outcome.sent)} 条提醒" + (f"，{outcome.already} 条此前已发送" if outcome.already else ""))
        for reminder, channel in outcome.sent:
            click.echo(_line(reminder, channel))
        if outcome.failed:
            click.echo(f"发送失败 {len(outcome.failed)} 条（已记录，下次运行时重试）：", err=True)
            for reminder, channel, why in outcome.failed:
                click.echo(f"{_line(reminder, channel)}\n    原因：{why}", err=True)
    for sentence in outcome.unreachable:
        click.echo(f"提示：{sentence}", err=True)
    if outcome.failed:
        raise SystemExit(1)
