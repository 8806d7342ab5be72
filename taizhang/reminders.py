"""`taizhang remind`: every reminder and escalation due now (taizhang/due.py says which), sent
once to each person on each channel of notify.yml, and recorded in notify.db in the data dir —
never served by Datasette, like users.db. Its UNIQUE key (register, row, rule, level, recipient,
deadline, channel) is what makes a second run send nothing new; a failed send is recorded and
tried again at the next run. A moved deadline is a new deadline, reminded again."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import sqlite3
from dataclasses import dataclass, field

from taizhang import due, notify_channels
from taizhang.datadir import DataDir
from taizhang.registers import DEPARTMENT_HEAD, OWNER, Definition, Register, load

# Held for a whole run, so two runs (a slow one and cron's next) never send the same reminder.
LOCK_FILE = "notify.lock"
SCHEMA = """
CREATE TABLE IF NOT EXISTS reminders (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  register TEXT NOT NULL,
  row_id INTEGER NOT NULL,
  rule INTEGER NOT NULL,            -- the rule's place in the register's due: list
  level INTEGER NOT NULL,           -- 0 the reminder, k the k-th escalation
  recipient TEXT NOT NULL,          -- employees.employee_no
  due_at TEXT NOT NULL,             -- the deadline reminded of, local 'YYYY-MM-DD HH:MM'
  channel TEXT NOT NULL,            -- email, or a webhook's name
  status TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 1,
  first_tried_at TEXT NOT NULL,     -- UTC
  sent_at TEXT,                     -- UTC
  error TEXT,
  UNIQUE (register, row_id, rule, level, recipient, due_at, channel)
);
"""
EMPLOYEE_SQL = "SELECT id, employee_no, name, email, phone FROM employees WHERE id = :id"
EMPLOYEE_BY_NO_SQL = "SELECT id, employee_no, name, email, phone FROM employees WHERE employee_no = :no"


@dataclass(frozen=True)
class Reminder:
    """One reminder for one person: what about, which level, who."""

    register: Register
    row: dict             # a row of due.reminders_sql
    recipient: dict       # employees row: id, employee_no, name, email, phone

    @property
    def key(self) -> tuple:
        r = self.row
        return (self.register.name, r["row_id"], r["rule"], r["level"], self.recipient["employee_no"], r["due_at"])

    def message(self, base_url: str | None) -> notify_channels.Message:
        r, reg = self.row, self.register
        state = f"已逾期 {r['late']}" if r["late"] is not None else "即将到期"
        level = due.levels(reg.due[r["rule"]])[r["level"]]
        subject = f"【台账提醒】{reg.label}「{r['item']}」{r['rule_label']} {r['due_value']}，{state}"
        lines = [f"{self.recipient['name']}：", f"{reg.label}「{r['item']}」的{r['rule_label']}是 {r['due_value']}，{state}。"]
        if r["level"]:
            lines.append(f"这是{level.label}：事项已逾期，请督促或协助处理。")
        else:
            lines.append("请及时处理。")
        url = f"{base_url}/{reg.database}/{reg.name}/{r['row_id']}" if base_url else None
        if url:
            lines.append(f"查看：{url}")
        data = {"register": reg.name, "register_label": reg.label, "row_id": r["row_id"], "item": r["item"],
                "rule": r["rule"], "rule_label": r["rule_label"], "level": r["level"], "level_label": level.label,
                "due": r["due_value"], "due_at": r["due_at"], "late": r["late"], "url": url,
                "recipient": {k: self.recipient[k] for k in ("employee_no", "name", "email")}}
        return notify_channels.Message(subject=subject, text="\n".join(lines), recipient_name=self.recipient["name"],
                                       email=self.recipient["email"], phone=self.recipient["phone"], data=data)


@dataclass
class Outcome:
    pending: list[Reminder] = field(default_factory=list)                  # due now, sent or not
    sent: list[tuple[Reminder, str]] = field(default_factory=list)
    failed: list[tuple[Reminder, str, str]] = field(default_factory=list)   # reminder, channel, why
    already: int = 0
    unreachable: list[str] = field(default_factory=list)                    # sentences, for people


def store(data_dir: DataDir, create: bool = True) -> sqlite3.Connection:
    """notify.db; without `create` (a dry run) an empty stand-in when there is none yet."""
    path = data_dir.notify_path
    conn = sqlite3.connect(path if create or path.exists() else ":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.executescript(SCHEMA)
    return conn


def _rows(conn: sqlite3.Connection, sql: str, params: dict) -> list[dict]:
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute(sql, params)]


def due_reminders(data_dir: DataDir, now: datetime.datetime, definition: Definition | None = None) -> Outcome:
    """Every (item, level, person) due by `now`, people resolved to employees; what no one can
    be found for is said in `unreachable`. Nothing is sent or recorded."""
    definition = definition or load()
    outcome = Outcome()
    users = data_dir.users(definition)
    try:
        logins = users.list()
    finally:
        users.close()
    reminders: dict[tuple, Reminder] = {}
    nobody: dict[str, list[int]] = {}
    unlinked = set()
    with contextlib.closing(data_dir.connect(definition.registers["employees"].database)) as people:
        for reg in due.registers_with_due(definition):
            with contextlib.closing(data_dir.connect(reg.database)) as conn:
                rows = _rows(conn, due.reminders_sql(definition, reg), due.params(now))
            for row in rows:
                if row["employee_id"] is not None:
                    found = _rows(people, EMPLOYEE_SQL, {"id": row["employee_id"]})
                elif due.is_role(definition, reg, row["person"]):
                    found = []
                    for user in (u for u in logins if u.role == row["person"]):
                        linked = _rows(people, EMPLOYEE_BY_NO_SQL, {"no": user.employee_no}) if user.employee_no else []
                        if not linked:
                            unlinked.add((user.username, definition.roles[user.role]["label"]))
                        found += linked
                else:
                    found = []   # no owner, no department head, the column left empty
                if not found:
                    level = due.levels(reg.due[row["rule"]])[row["level"]].label
                    nobody.setdefault(f"{reg.label}的{level}找不到要提醒的人（{_person_label(definition, reg, row['person'])}）",
                                      []).append(row["row_id"])
                for person in found:
                    reminder = Reminder(reg, row, person)
                    reminders.setdefault(reminder.key, reminder)
    for sentence, ids in nobody.items():
        shown = "、".join(map(str, ids[:10])) + ("…" if len(ids) > 10 else "")
        outcome.unreachable.append(f"{sentence}：{len(ids)} 项，编号 {shown}")
    for username, role in sorted(unlinked):
        outcome.unreachable.append(f"登录账号 {username}（{role}）没有关联员工（工号），收不到提醒")
    outcome.pending = list(reminders.values())
    return outcome


def _person_label(definition: Definition, reg: Register, word: str) -> str:
    if word == OWNER:
        return reg.columns[reg.owner].label + "未填写"
    if word == DEPARTMENT_HEAD:
        return "部门负责人未设置"
    if word in reg.columns:
        return reg.columns[word].label + "未填写"
    return f"没有{definition.roles[word]['label']}账号"


class AlreadyRunning(Exception):
    """Another `taizhang remind` holds the lock: this run sends nothing."""


@contextlib.contextmanager
def one_run_at_a_time(data_dir: DataDir):
    with open(data_dir.path / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning() from None
        yield


class Channels:
    """Sends a message on one of the channels of notify.yml; the SMTP connection is opened once,
    at the first e-mail, and a failure to open it fails every e-mail of the run."""

    def __init__(self, settings: notify_channels.Settings, stack: contextlib.ExitStack):
        self.settings, self.stack = settings, stack
        self.smtp = None
        self.smtp_error: notify_channels.SendFailed | None = None

    def send(self, channel: str, message: notify_channels.Message) -> None:
        if channel != "email":
            next(w for w in self.settings.webhooks if w.name == channel).send(message)
            return
        if self.smtp is None and self.smtp_error is None:
            try:
                self.smtp = self.settings.email.open()
                self.stack.callback(_quit, self.smtp)
            except notify_channels.SendFailed as ex:
                self.smtp_error = ex
        if self.smtp_error:
            raise self.smtp_error
        self.settings.email.send(self.smtp, message)


def _quit(smtp) -> None:
    with contextlib.suppress(Exception):
        smtp.quit()


SENT_SQL = """SELECT 1 FROM reminders WHERE register = ? AND row_id = ? AND rule = ? AND level = ? AND recipient = ?
AND due_at = ? AND channel = ? AND status = 'sent'"""


def run(data_dir: DataDir, now: datetime.datetime, settings: notify_channels.Settings,
        dry_run: bool = False, definition: Definition | None = None) -> Outcome:
    """Send what is due and not sent yet on every channel, recording each attempt."""
    with contextlib.ExitStack() as stack:
        if not dry_run:
            stack.enter_context(one_run_at_a_time(data_dir))
        outcome = due_reminders(data_dir, now, definition)
        book = stack.enter_context(contextlib.closing(store(data_dir, create=not dry_run)))
        channels = Channels(settings, stack)
        for reminder in outcome.pending:
            for channel in settings.channels_for(reminder.register):
                key = (*reminder.key, channel)
                if book.execute(SENT_SQL, key).fetchone():
                    outcome.already += 1
                elif dry_run:
                    outcome.sent.append((reminder, channel))
                else:
                    try:
                        channels.send(channel, reminder.message(settings.base_url))
                    except notify_channels.SendFailed as ex:
                        _record(book, key, "failed", str(ex))
                        outcome.failed.append((reminder, channel, str(ex)))
                    else:
                        _record(book, key, "sent", None)
                        outcome.sent.append((reminder, channel))
    return outcome


def _record(book: sqlite3.Connection, key: tuple, status: str, error: str | None) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    book.execute(
        "INSERT INTO reminders (register, row_id, rule, level, recipient, due_at, channel, status, first_tried_at,"
        " sent_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (register, row_id, rule, level, recipient, due_at, channel) DO UPDATE SET"
        " status = excluded.status, attempts = attempts + 1, sent_at = excluded.sent_at, error = excluded.error",
        [*key, status, now, now if status == "sent" else None, error])
