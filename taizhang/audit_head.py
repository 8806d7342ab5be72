"""The head of each database's seal chain, kept outside the database.

The seal chain proves that no sealed log row was changed and none in the middle removed, but
someone who owns the file can drop the append-only triggers and delete the newest log rows
together with their seals: what is left is a shorter, valid chain. So after every seal the
app records the chain head — last seal id, last log id, seal digest — in `<name>.audit-head`
next to the database file (`ops.db` → `ops.audit-head`), authenticated with an HMAC under the
audit key (from the secret), written atomically (temporary file + `os.replace`, mode 0600).
`taizhang audit verify` then requires the database's chain to contain the recorded head.

The head is written after COMMIT: a crash in between leaves it behind the database by a seal,
which is no alarm — a database that *extends* the head is fine; only one *shorter* than the
head, or diverging from it, is tampering. Written before commit, a rolled-back write would
leave a head ahead of the database forever. Two writers (the server and the CLI) may finish in
either order; the head only ever moves forward. The app never moves a head the database no
longer extends, never replaces a forged one and never creates a missing one for a database that
already has seals — each of those would erase the evidence; verify keeps reporting it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import pathlib
import sqlite3
import tempfile
from dataclasses import asdict, dataclass

from taizhang.audit_guard import SEAL

GENESIS = "0" * 64
SUFFIX = ".audit-head"


@dataclass(frozen=True)
class Problem:
    """One thing `audit verify` found: its kind (a code), and the sentence for people."""

    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Head:
    seal_id: int
    last_log_id: int
    seal: str


EMPTY = Head(0, 0, GENESIS)


class HeadForged(ValueError):
    """The head file is unreadable or its HMAC does not match."""


def path_for(database: pathlib.Path) -> pathlib.Path:
    return database.with_name(database.stem + SUFFIX)


def path_of(conn: sqlite3.Connection) -> pathlib.Path | None:
    """The head file of the database `conn` is connected to (None for an in-memory one)."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return path_for(pathlib.Path(file)) if file else None
    return None


def current(conn: sqlite3.Connection) -> Head:
    """The head of the chain as it is in the database."""
    row = conn.execute(f"SELECT id, last_log_id, seal FROM {SEAL} ORDER BY id DESC LIMIT 1").fetchone()
    return Head(*row) if row else EMPTY


def _mac(key: bytes, name: str, head: Head) -> str:
    # The database's name is in the MAC, so ops.db's head cannot stand in for hr.db's.
    message = f"taizhang audit head\0{name}\0{head.seal_id}\0{head.last_log_id}\0{head.seal}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def read(path: pathlib.Path, key: bytes) -> Head | None:
    """The recorded head; None if there is no head file."""
    try:
        data = json.loads(path.read_text())
        head = Head(int(data["seal_id"]), int(data["last_log_id"]), str(data["seal"]))
        mac = str(data["mac"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as ex:
        raise HeadForged(str(ex))
    if not hmac.compare_digest(mac, _mac(key, _name(path), head)):
        raise HeadForged("mac")
    return head


def write(path: pathlib.Path, key: bytes, head: Head) -> None:
    text = json.dumps({**asdict(head), "mac": _mac(key, _name(path), head)})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")   # mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            # On disk before the rename: a power cut must not leave an empty head (a false alarm).
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _name(path: pathlib.Path) -> str:
    return path.name[: -len(SUFFIX)]


def contains(conn: sqlite3.Connection, head: Head) -> bool:
    """Does the database's chain hold this head (the same seal, same id)?"""
    if head == EMPTY:
        return True
    row = conn.execute(f"SELECT last_log_id, seal FROM {SEAL} WHERE id = ?", [head.seal_id]).fetchone()
    return row is not None and (row[0], row[1]) == (head.last_log_id, head.seal)


@dataclass(frozen=True)
class Advance:
    """A head to record once the transaction that sealed it has committed."""

    path: pathlib.Path
    head: Head

    def apply(self, key: bytes) -> None:
        # Read, compare and replace under one lock: two writers finishing together (two of the
        # server's executor threads, or the server and the CLI) must not both read the old head
        # and the later seal's be overwritten by the earlier one's.
        with _locked(self.path.parent):
            try:
                recorded = read(self.path, key)
            except HeadForged:
                return
            if recorded is not None and recorded.seal_id >= self.head.seal_id:
                return   # another writer recorded a later seal already
            write(self.path, key, self.head)


@contextlib.contextmanager
def _locked(folder: pathlib.Path):
    """An exclusive lock on the folder holding the head files, across threads and processes
    (flock on a descriptor of its own each time; the folder, as the head file is replaced)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)   # releases the lock


def advance(conn: sqlite3.Connection, key: bytes, head: Head) -> Advance | None:
    """Before commit: may the head move to `head`? Only if the recorded head is genuine and the
    database still extends it (else the evidence of tampering stays for verify to report)."""
    path = path_of(conn)
    if path is None:
        return None
    try:
        recorded = read(path, key)
    except HeadForged:
        return None
    if recorded is None and conn.execute(f"SELECT 1 FROM {SEAL} WHERE id < ? LIMIT 1", [head.seal_id]).fetchone():
        return None   # missing while older seals exist: removed, or never recorded — see verify
    if recorded is not None and not contains(conn, recorded):
        return None
    return Advance(path, head)


def adopt(conn: sqlite3.Connection, key: bytes, force: bool = False) -> bool:
    """Record the database's current chain head as its head file. Without force, only for a new
    database (no seals yet) that has none; with force, always — once a restore has made the
    restored log the record, or (only where the file is missing) after upgrading from a version
    without head files. Returns whether it wrote one."""
    path = path_of(conn)
    if path is None:
        return False
    head = current(conn)
    if not force and (path.exists() or head != EMPTY):
        return False
    write(path, key, head)
    return True


def problems(conn: sqlite3.Connection, key: bytes, label: str) -> list[Problem]:
    """What is wrong between the database's chain and its recorded head, as sentences."""
    path = path_of(conn)
    if path is None:
        return []
    try:
        recorded = read(path, key)
    except HeadForged:
        return [Problem("head_forged", f"{label}的链头文件 {path.name} 被改动或伪造（签名不符）：无法确认末尾的记录未被删除")]
    if recorded is None:
        if current(conn) == EMPTY:
            return []
        return [Problem("head_missing", f"{label}缺少链头文件 {path.name}：无法确认末尾的记录未被删除"
                "（从没有链头文件的版本升级后，确认无误时运行 taizhang audit verify --adopt-head 记录当前链头）")]
    if contains(conn, recorded):
        return []
    here = current(conn)
    if here.seal_id < recorded.seal_id:
        return [Problem("head_shorter", f"{label}末尾的记录和封存已被删除：链头文件记录到第 {recorded.seal_id} 号封存（日志第 "
                f"{recorded.last_log_id} 条），数据库中只到第 {here.seal_id} 号（日志第 {here.last_log_id} 条）")]
    return [Problem("head_diverged", f"{label}的封存链与链头文件不符（第 {recorded.seal_id} 号封存）：数据库被替换，或末尾被删除后又有写入")]
