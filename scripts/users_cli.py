"""`taizhang user …` and `taizhang token create`: logins and API tokens."""

from __future__ import annotations

import asyncio
import functools
import sys

import click

from scripts.cli import cli
from scripts.options import _require_initialised, data_dir_option
from taizhang.registers import load
from taizhang.users import UserError


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


ROLE = click.Choice([r for r in load().roles if r not in load().derived_roles])


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
