"""The user store: logins, roles, sessions and login events, in users.db in the data dir.

It is never served by Datasette, so no SQL a user can run reaches a password hash. Roles are
read from here on every request (plugins/auth.py), so a role change, a new user or a removed
user takes effect at the next request.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
import sqlite3
from dataclasses import dataclass

import argon2

from taizhang.clock import utc_now_iso

# OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane). Tests set TAIZHANG_TEST_FAST_HASH=1 to
# run thousands of logins quickly; tests/test_users.py asserts this production setting.
PRODUCTION_HASH = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}
TEST_HASH = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
MIN_PASSWORD_LENGTH = 10
# A session ends after this long without a request, and after SESSION_ABSOLUTE in any case.
SESSION_IDLE = datetime.timedelta(hours=8)
SESSION_ABSOLUTE = datetime.timedelta(days=7)
# last_seen_at is written at most this often, so browsing does not write on every request.
SESSION_TOUCH = datetime.timedelta(minutes=5)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  employee_no TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY,
  username TEXT NOT NULL REFERENCES users(username) ON DELETE CASCADE,
  created_at TEXT NOT NULL,
  last_seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_sessions_username ON sessions(username);
CREATE TABLE IF NOT EXISTS auth_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  username TEXT,
  event TEXT NOT NULL,
  ip TEXT
);
CREATE INDEX IF NOT EXISTS idx_auth_events_username ON auth_events (event, username, at);
CREATE INDEX IF NOT EXISTS idx_auth_events_ip ON auth_events (event, ip, at);
"""
# Changes to a users.db made by an earlier version, in order; PRAGMA user_version counts those
# applied. (SCHEMA above is the first version; CREATE … IF NOT EXISTS keeps it idempotent.)
MIGRATIONS = [
    # 1: the interface language a user chose (zh-Hans / zh-Hant / en); NULL = not chosen.
    "ALTER TABLE users ADD COLUMN language TEXT",
    # 2-4: a stable account key, what import batches are owned by: a name can be reused (a
    # removed user added again, a login named like an OS user), the key never is.
    "ALTER TABLE users ADD COLUMN account_id TEXT",
    "UPDATE users SET account_id = lower(hex(randomblob(16))) WHERE account_id IS NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_users_account_id ON users (account_id)",
]


class UserError(ValueError):
    """A refused user-store operation; the message is for people (Chinese)."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    employee_no: str | None

    def actor(self) -> dict:
        actor = {"id": self.username, "roles": [self.role]}
        if self.employee_no:
            actor["employee_no"] = self.employee_no
        return actor


def hasher() -> argon2.PasswordHasher:
    params = TEST_HASH if os.environ.get("TAIZHANG_TEST_FAST_HASH") == "1" else PRODUCTION_HASH
    return argon2.PasswordHasher(type=argon2.Type.ID, **params)


def hash_password(password: str) -> str:
    return hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the user exists: unknown users are checked against a
    dummy hash, so response time does not tell which usernames exist."""
    ph = hasher()
    try:
        return ph.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


_DUMMY: dict[str, str] = {}


def _dummy_hash() -> str:
    key = os.environ.get("TAIZHANG_TEST_FAST_HASH", "")
    if key not in _DUMMY:
        _DUMMY[key] = hash_password(secrets.token_hex(16))
    return _DUMMY[key]


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 个字符")
    kinds = sum(
        any(test(ch) for ch in password)
        for test in (str.isdigit, str.islower, str.isupper, lambda ch: not ch.isalnum())
    )
    if kinds < 2 and not any(ord(ch) > 127 for ch in password):
        raise UserError("密码需至少包含两类字符（数字、小写字母、大写字母、符号）")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    def __init__(self, path, roles):
        self.path = path
        self.roles = list(roles)
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA busy_timeout = 5000")
        self.conn.executescript(SCHEMA)
        self._migrate()

    def _migrate(self):
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        for number, statement in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                # Another process may have migrated meanwhile: check again inside the lock.
                if self.conn.execute("PRAGMA user_version").fetchone()[0] >= number:
                    continue
                self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")

    def close(self):
        self.conn.close()

    # -- users ---------------------------------------------------------------------------
    def add(self, username: str, password: str, role: str, employee_no: str | None = None) -> User:
        username = username.strip()
        if not username or any(ch.isspace() for ch in username):
            raise UserError("用户名不能为空，也不能包含空格")
        self._check_role(role)
        check_password_strength(password)
        if self.get(username):
            raise UserError(f"用户 {username} 已存在")
        now = utc_now_iso()
        self.conn.execute(
            "INSERT INTO users (username, password_hash, role, employee_no, created_at, updated_at, account_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [username, hash_password(password), role, employee_no, now, now, secrets.token_hex(16)],
        )
        return User(username, role, employee_no)

    def get(self, username: str) -> User | None:
        row = self.conn.execute(
            "SELECT username, role, employee_no FROM users WHERE username = ?", [username]
        ).fetchone()
        return User(*row) if row else None

    def account_id(self, username: str) -> str | None:
        """The user's account key (never reused, unlike the name), or None if there is no such user."""
        row = self.conn.execute("SELECT account_id FROM users WHERE username = ?", [username]).fetchone()
        return row[0] if row else None

    def list(self) -> list[User]:
        return [
            User(*row)
            for row in self.conn.execute(
                "SELECT username, role, employee_no FROM users ORDER BY username"
            )
        ]

    def set_password(self, username: str, password: str) -> None:
        check_password_strength(password)
        self._require(username)
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute(
                "UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?",
                [hash_password(password), utc_now_iso(), username],
            )
            # A new password ends every existing session of that user.
            self.conn.execute("DELETE FROM sessions WHERE username = ?", [username])

    def set_role(self, username: str, role: str) -> None:
        self._check_role(role)
        self._require(username)
        self.conn.execute(
            "UPDATE users SET role = ?, updated_at = ? WHERE username = ?",
            [role, utc_now_iso(), username],
        )

    def set_employee(self, username: str, employee_no: str | None) -> None:
        self._require(username)
        self.conn.execute(
            "UPDATE users SET employee_no = ?, updated_at = ? WHERE username = ?",
            [employee_no, utc_now_iso(), username],
        )

    def language(self, username: str) -> str | None:
        row = self.conn.execute("SELECT language FROM users WHERE username = ?", [username]).fetchone()
        return row[0] if row else None

    def set_language(self, username: str, language: str | None) -> None:
        self._require(username)
        self.conn.execute(
            "UPDATE users SET language = ?, updated_at = ? WHERE username = ?",
            [language, utc_now_iso(), username],
        )

    def remove(self, username: str) -> None:
        self._require(username)
        self.conn.execute("DELETE FROM users WHERE username = ?", [username])

    def password_hash(self, username: str) -> str | None:
        row = self.conn.execute(
            "SELECT password_hash FROM users WHERE username = ?", [username]
        ).fetchone()
        return row[0] if row else None

    def authenticate(self, username: str, password: str) -> User | None:
        if verify_password(self.password_hash(username), password):
            return self.get(username)
        return None

    # -- sessions ------------------------------------------------------------------------
    def start_session(self, username: str) -> str:
        token = secrets.token_urlsafe(32)
        now = utc_now_iso()
        self.conn.execute(
            "INSERT INTO sessions (token_hash, username, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
            [_token_hash(token), username, now, now],
        )
        return token

    def session_user(self, token: str) -> User | None:
        """The user behind a session cookie, or None when it ended, expired or was revoked."""
        row = self.conn.execute(
            "SELECT u.username, u.role, u.employee_no, s.created_at, s.last_seen_at "
            "FROM sessions s JOIN users u ON u.username = s.username WHERE s.token_hash = ?",
            [_token_hash(token)],
        ).fetchone()
        if row is None:
            return None
        now = datetime.datetime.now(datetime.timezone.utc)
        created, last_seen = (_parse(row[3]), _parse(row[4]))
        if now - created > SESSION_ABSOLUTE or now - last_seen > SESSION_IDLE:
            self.end_session(token)
            return None
        if now - last_seen > SESSION_TOUCH:
            self.conn.execute(
                "UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?",
                [utc_now_iso(), _token_hash(token)],
            )
        return User(*row[:3])

    def end_session(self, token: str) -> None:
        self.conn.execute("DELETE FROM sessions WHERE token_hash = ?", [_token_hash(token)])

    def record(self, event: str, username: str | None, ip: str | None) -> None:
        self.conn.execute(
            "INSERT INTO auth_events (at, username, event, ip) VALUES (?, ?, ?, ?)",
            [utc_now_iso(), username, event, ip],
        )

    def _check_role(self, role: str) -> None:
        if role not in self.roles:
            raise UserError(f"未知角色 {role}；可选：{'、'.join(self.roles)}")

    def _require(self, username: str) -> None:
        if not self.get(username):
            raise UserError(f"用户 {username} 不存在")


def _parse(iso: str) -> datetime.datetime:
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
