"""The data dir: both register databases, the user store, Datasette's internal database and
the cookie-signing secret live together in one folder, so instances never mix."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib
import secrets
import sqlite3
from dataclasses import dataclass

import sqlite_utils

from taizhang import audit, audit_head, derived, schema, search
from taizhang.registers import Definition, load
from taizhang.users import UserStore

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO / "db"


@dataclass(frozen=True)
class DataDir:
    path: pathlib.Path

    @classmethod
    def resolve(cls, data_dir: str | os.PathLike | None = None) -> "DataDir":
        chosen = data_dir or os.environ.get("TAIZHANG_DATA_DIR") or DEFAULT_DATA_DIR
        return cls(pathlib.Path(chosen).resolve())

    def database(self, name: str) -> pathlib.Path:
        return self.path / f"{name}.db"

    @property
    def users_path(self) -> pathlib.Path:
        return self.path / "users.db"

    @property
    def internal_path(self) -> pathlib.Path:
        return self.path / "internal.db"

    @property
    def notify_path(self) -> pathlib.Path:
        """The reminders sent (taizhang/reminders.py): lost, every reminder would go out again."""
        return self.path / "notify.db"

    @property
    def secret_path(self) -> pathlib.Path:
        return self.path / "secret"

    def files(self, definition: Definition) -> list[pathlib.Path]:
        """Every SQLite file a backup must hold."""
        return [*(self.database(n) for n in definition.databases), self.users_path, self.internal_path,
                self.notify_path]

    def exists(self, definition: Definition) -> bool:
        return all(self.database(n).exists() for n in definition.databases)

    def secret(self) -> str:
        """The cookie-signing secret, created on first use (mode 0600) so sessions survive restarts."""
        if not self.secret_path.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.secret_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return self.secret_path.read_text().strip()

    def users(self, definition: Definition | None = None) -> UserStore:
        definition = definition or load()
        # Derived roles (department_head) follow from the registers and are never given by hand.
        return UserStore(self.users_path, [r for r in definition.roles if r not in definition.derived_roles])

    def connect(self, name: str) -> sqlite3.Connection:
        return connect(self.database(name))

    def make_private(self) -> None:
        """The data dir holds the confidential register, the logins and the signing key: only
        the service account may read any of it. A umask makes what this process creates from
        now on private (the databases' -wal/-shm, uploads, backups); what exists is fixed."""
        private_umask()
        if self.path.exists():
            make_private(self.path)


def private_umask() -> None:
    """Files this process creates are 0600, folders 0700 — whatever umask the shell had."""
    os.umask(0o077)


def make_private(folder: pathlib.Path) -> None:
    """Bring a folder and everything under it to 0700 (folders) / 0600 (files)."""
    os.chmod(folder, 0o700)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


@contextlib.contextmanager
def write_transactions(data_dir: "DataDir", names):
    """A write transaction (BEGIN IMMEDIATE) on each of several database files, committed
    together at the end — or all rolled back if anything raises. A caller that rolled back
    itself leaves nothing to commit."""
    conns = {name: data_dir.connect(name) for name in names}
    try:
        for conn in conns.values():
            conn.execute("BEGIN IMMEDIATE")
        yield conns
        for conn in conns.values():
            if conn.in_transaction:
                conn.execute("COMMIT")
    except BaseException:
        for conn in conns.values():
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        raise
    finally:
        for conn in conns.values():
            conn.close()


def connect(path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _migrations():
    spec = importlib.util.spec_from_file_location("taizhang_db_migrations", REPO / "db" / "migrations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MIGRATIONS


def init(data_dir: DataDir, definition: Definition | None = None) -> dict[str, list[str]]:
    """Create or upgrade every database of the data dir; idempotent. Returns, per database,
    the migrations applied and derived objects rebuilt (empty lists on a second run)."""
    definition = definition or load()
    private_umask()
    data_dir.path.mkdir(parents=True, exist_ok=True)
    data_dir.make_private()
    migrations = _migrations()
    report = {}
    key = audit.key_from_secret(data_dir.secret())
    for name in definition.databases:
        conn = data_dir.connect(name)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            db = sqlite_utils.Database(conn)
            pending = [m.name for m in migrations[name].pending(db)]
            migrations[name].apply(db)
            with db.atomic():
                # A register added to the definition since the file was made (the migrations
                # only add columns to registers that were there).
                created = [f"create {table}" for table in schema.create_registers(conn, definition, name)]
                rebuilt = derived.sync(conn, definition, name)
                search.drain(conn, definition)
            report[name] = pending + created + rebuilt
            # A new database starts its recorded chain head here; an existing one without a
            # head file is left for `taizhang audit verify` to report (see taizhang/audit_head.py).
            audit_head.adopt(conn, key)
        finally:
            conn.close()
    data_dir.users(definition).close()
    return report
