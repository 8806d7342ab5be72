"""What every command shares: the data dir option and the check that it holds registers."""

from __future__ import annotations

import functools
import pathlib

import click

from taizhang.datadir import DataDir
from taizhang.registers import load


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
