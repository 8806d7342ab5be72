"""What the plugins share about the running instance: its data dir, user store and definition.
Kept out of plugins/ because Datasette loads each plugin file as its own module."""

from __future__ import annotations

from taizhang.audit import key_from_secret
from taizhang.datadir import DataDir
from taizhang.registers import Definition, load
from taizhang.users import UserStore


def data_dir(datasette) -> DataDir:
    config = datasette.plugin_config("taizhang") or {}
    return DataDir.resolve(config.get("data_dir"))


def user_store(datasette) -> UserStore:
    store = getattr(datasette, "_taizhang_users", None)
    if store is None:
        store = data_dir(datasette).users(load())
        datasette._taizhang_users = store
    return store


def audit_key(datasette) -> bytes:
    key = getattr(datasette, "_taizhang_audit_key", None)
    if key is None:
        key = datasette._taizhang_audit_key = key_from_secret(data_dir(datasette).secret())
    return key


def definition() -> Definition:
    return load()


def client_ip(request) -> str | None:
    client = request.scope.get("client")
    return client[0] if client else None
