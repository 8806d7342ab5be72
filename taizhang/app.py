"""Builds the Datasette instance: the one place that knows how the app is assembled, used by
`taizhang serve`, the tests and the benchmarks alike."""

from __future__ import annotations

import yaml
from datasette.app import Datasette

from taizhang.datadir import REPO, DataDir
from taizhang.registers import load


def read_yaml(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text(encoding="utf-8"))


def make_datasette(data_dir: DataDir, settings: dict | None = None) -> Datasette:
    definition = load()
    data_dir.make_private()   # before the server creates -wal/-shm, uploads, internal.db
    config = read_yaml("datasette.yml")
    if settings:
        config["settings"] = {**config.get("settings", {}), **settings}
    # Which data dir the plugins read (the user store) is per instance, not configuration.
    config.setdefault("plugins", {}).setdefault("taizhang", {})["data_dir"] = str(data_dir.path)
    return Datasette(
        [str(data_dir.database(name)) for name in definition.databases],
        config=config,
        metadata=read_yaml("metadata.yml"),
        plugins_dir=str(REPO / "plugins"),
        template_dir=str(REPO / "templates"),
        static_mounts=[("assets", str(REPO / "static"))],
        internal=str(data_dir.internal_path),
        secret=data_dir.secret(),
        default_deny=True,
    )
