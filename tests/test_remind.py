"""`taizhang remind` against a local SMTP sink (aiosmtpd) and a local HTTP receiver: each
reminder once however often it runs, escalations as simulated time passes, nothing for a row
that left its due state, failures recorded and retried."""

import datetime
import email
import email.policy
import json
import socket
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from scripts.cli import cli
from taizhang import audit, clock

pytestmark = pytest.mark.fast

FIXTURE = """
INSERT INTO employees (id, employee_no, name, email, phone) VALUES
  (1, '00001', '经理甲', 'jia@example.com', NULL), (2, '00002', '组长乙', 'yi@example.com', NULL),
  (3, '00003', '专员丙', 'bing@example.com', '13800000003'), (4, '00004', '经理戊', 'wu@example.com', NULL),
  (5, '00005', '专员己', NULL, NULL);
INSERT INTO departments (id, name, parent_id, manager_id) VALUES (1, '运营部', NULL, 1), (2, '客户运营组', 1, 2);
UPDATE employees SET department_id = CASE WHEN id IN (1, 4) THEN 1 ELSE 2 END;
INSERT INTO meetings (id, title, held_on) VALUES (1, '运营周会', '2026-11-02');
INSERT INTO meeting_actions (id, meeting_id, item, owner_id, due_on, status) VALUES
  (1, 1, '丙的决议', 3, '2026-11-20', '未开始'),
  (2, 1, '丙很快完成的决议', 3, '2026-11-20', '进行中');
"""


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append({"to": envelope.rcpt_tos, "subject": str(message["Subject"]),
                              "body": message.get_content()})
        return "250 OK"


class Receiver(BaseHTTPRequestHandler):
    posts: list = []
    fail_paths: set = set()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path in self.fail_paths:
            self.send_response(500)
            self.end_headers()
            return
        self.posts.append((self.path, body))
        answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture
def receiver():
    Receiver.posts, Receiver.fail_paths = [], set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver, server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def instance(empty_data_dir, mailbox, receiver):
    """A data dir with the fixture, a manager login, and notify.yml pointing at the sinks."""
    for statement in filter(str.strip, FIXTURE.split(";\n")):
        write(empty_data_dir, statement)
    users = empty_data_dir.users()
    users.add("boss", "Secret-pass-1", "manager", "00004")
    users.add("nobody", "Secret-pass-1", "manager")          # no employee: cannot be reminded
    users.close()
    (empty_data_dir.path / "notify.yml").write_text(
        f"email: {{host: 127.0.0.1, port: {mailbox[1]}, from: taizhang@example.internal, starttls: false}}\n"
        "webhooks:\n"
        f"  - {{kind: wecom, url: 'http://127.0.0.1:{receiver[1]}/wecom'}}\n"
        f"  - {{kind: json, url: 'http://127.0.0.1:{receiver[1]}/json'}}\n"
        "base_url: https://taizhang.example.internal\n", encoding="utf-8")
    return empty_data_dir, mailbox[0], receiver[0]


def remind(data_dir, now: str | datetime.datetime, *extra):
    if isinstance(now, datetime.datetime):
        now = now.astimezone(clock.timezone()).strftime("%Y-%m-%d %H:%M")
    return CliRunner().invoke(cli, ["remind", "--data-dir", str(data_dir.path), "--now", now, *extra])


def write(data_dir, sql: str, params=(), employee_no: str | None = None, roles=("admin",), note=None):
    """A change made through the app's audited path, as this employee."""
    conn = data_dir.connect("ops")
    try:
        who = audit.Who(actor="test", role=roles[0], source="cli", employee_no=employee_no, roles=tuple(roles), note=note)
        with audit.audited(conn, who, audit.key_from_secret(data_dir.secret())):
            conn.execute(sql, params)
    finally:
        conn.close()


def test_each_reminder_once_then_escalations_then_nothing_after_done(instance):
    data_dir, mails, hooks = instance
    first = remind(data_dir, "2026-11-17 23:00")                   # three days before: not yet
    assert first.exit_code == 0, first.output
    assert mails.messages == [] and hooks.posts == []

    due = remind(data_dir, "2026-11-18 09:00")
    assert due.exit_code == 0, due.output
    assert sorted(m["subject"] for m in mails.messages) == [
        "【台账提醒】会议决议「丙很快完成的决议」完成时限 2026-11-20，即将到期",
        "【台账提醒】会议决议「丙的决议」完成时限 2026-11-20，即将到期"]
    assert {tuple(m["to"]) for m in mails.messages} == {("bing@example.com",)}
    assert "https://taizhang.example.internal/ops/meeting_actions/1" in "".join(m["body"] for m in mails.messages)
    wecom = [body for path, body in hooks.posts if path == "/wecom"]
    assert len(wecom) == 2 and wecom[0]["msgtype"] == "text"
    assert wecom[0]["text"]["mentioned_mobile_list"] == ["13800000003"]
    generic = [body for path, body in hooks.posts if path == "/json"]
    assert {(b["row_id"], b["level"], b["recipient"]["employee_no"]) for b in generic} == {(1, 0, "00003"), (2, 0, "00003")}

    again = remind(data_dir, "2026-11-18 09:10")                    # cron's next run
    assert again.exit_code == 0 and "已发送 0 条提醒" in again.output and "6 条此前已发送" in again.output
    assert len(mails.messages) == 2 and len(hooks.posts) == 4

    # The second action is finished before it is late: it is never escalated.
    write(data_dir, "UPDATE meeting_actions SET status = '已完成', done_on = '2026-11-19' WHERE id = 2")
    mails.messages.clear()
    head = remind(data_dir, "2026-11-22 08:00")                     # a day overdue: 丙's head
    assert head.exit_code == 0, head.output
    assert [(m["to"], m["subject"]) for m in mails.messages] == [
        (["yi@example.com"], "【台账提醒】会议决议「丙的决议」完成时限 2026-11-20，已逾期 2 天")]
    assert "第 1 次升级" in mails.messages[0]["body"] and "组长乙" in mails.messages[0]["body"]

    mails.messages.clear()
    manager = remind(data_dir, "2026-11-24 08:00")                  # three days: every manager
    assert [m["to"] for m in mails.messages] == [["wu@example.com"]]
    assert "nobody" in manager.output and "没有关联员工" in manager.output

    mails.messages.clear()
    hooks.posts.clear()
    later = remind(data_dir, "2026-12-20 08:00")
    assert later.exit_code == 0 and mails.messages == [] and hooks.posts == []
    book = sqlite3.connect(data_dir.notify_path)
    rows = book.execute("SELECT register, row_id, level, recipient, status FROM reminders WHERE channel = 'email'").fetchall()
    assert sorted(rows) == [("meeting_actions", 1, 0, "00003", "sent"), ("meeting_actions", 1, 1, "00002", "sent"),
                            ("meeting_actions", 1, 2, "00004", "sent"), ("meeting_actions", 2, 0, "00003", "sent")]


def test_state_deadline_from_when_the_row_entered_it(instance):
    """A task handed in for acceptance (待验收) waits two days for whoever assigned it, counted
    from the audit log's record of the change; sent back (已退回), it stops."""
    data_dir, mails, hooks = instance
    write(data_dir, "INSERT INTO tasks (id, title, assigned_by_id, assignee_id, due_on, status)"
          " VALUES (1, '整理客户名单', 2, 3, '2027-06-30', '待接收')", employee_no="00002",
          roles=("editor", "department_head"))
    write(data_dir, "UPDATE tasks SET status = '进行中' WHERE id = 1", employee_no="00003", roles=("employee",))
    write(data_dir, "UPDATE tasks SET status = '待验收' WHERE id = 1", employee_no="00003", roles=("employee",))
    handed_in = datetime.datetime.now(datetime.timezone.utc)

    def about_tasks():
        return [(m["to"], m["subject"]) for m in mails.messages if "工作任务" in m["subject"]]

    assert remind(data_dir, handed_in + datetime.timedelta(hours=47)).exit_code == 0
    assert about_tasks() == []
    assert remind(data_dir, handed_in + datetime.timedelta(hours=49)).exit_code == 0
    assert [(to, "「待验收」待处理" in subject and "已逾期 1 小时" in subject) for to, subject in about_tasks()] == [
        (["yi@example.com"], True)]

    write(data_dir, "UPDATE tasks SET status = '已退回' WHERE id = 1", employee_no="00002",
          roles=("editor", "department_head"), note="请补充")
    mails.messages.clear()
    assert remind(data_dir, handed_in + datetime.timedelta(days=6)).exit_code == 0
    assert about_tasks() == []                                      # no escalation to the manager


def test_a_failed_send_is_recorded_and_retried(instance):
    data_dir, mails, hooks = instance
    hooks.fail_paths = {"/json"}
    write(data_dir, "UPDATE meeting_actions SET owner_id = 5 WHERE id = 2")   # 专员己 has no e-mail
    failed = remind(data_dir, "2026-11-18 09:00")
    assert failed.exit_code == 1
    assert "发送失败" in failed.output and "JSON 网络钩子（json）答复 HTTP 500" in failed.output
    assert "专员己在员工台账里没有邮箱" in failed.output
    assert len(mails.messages) == 1 and len([p for p, _ in hooks.posts if p == "/wecom"]) == 2

    hooks.fail_paths = set()
    write(data_dir, "UPDATE employees SET email = 'ji@example.com' WHERE id = 5")
    retried = remind(data_dir, "2026-11-18 09:30")
    assert retried.exit_code == 0, retried.output
    assert [m["to"] for m in mails.messages] == [["bing@example.com"], ["ji@example.com"]]
    assert sorted(b["row_id"] for p, b in hooks.posts if p == "/json") == [1, 2]
    assert len([p for p, _ in hooks.posts if p == "/wecom"]) == 2     # not sent twice
    book = sqlite3.connect(data_dir.notify_path)
    assert book.execute("SELECT count(*) FROM reminders WHERE status = 'sent'").fetchone()[0] == 6
    assert book.execute("SELECT max(attempts) FROM reminders").fetchone()[0] == 2


def test_confidential_reminders_stay_out_of_group_chats(instance):
    data_dir, mails, hooks = instance
    hr = data_dir.connect("hr")
    hr.execute("INSERT INTO confidentiality_agreements (agreement_no, party_kind, party_name, signed_on, expires_on)"
               " VALUES ('BM-9', '其他', '某顾问', '2024-01-01', '2026-12-10')")
    hr.close()
    users = data_dir.users()
    users.add("hr-1", "Secret-pass-1", "hr", "00005")
    users.close()
    write(data_dir, "UPDATE employees SET email = 'ji@example.com' WHERE id = 5")
    assert remind(data_dir, "2026-11-18 09:00").exit_code == 0
    agreement = [m for m in mails.messages if "BM-9" in m["subject"]]
    assert [m["to"] for m in agreement] == [["ji@example.com"]]       # 30 days before, to hr
    assert not any("BM-9" in json.dumps(body, ensure_ascii=False) for _, body in hooks.posts)
    assert len(hooks.posts) == 4                                      # the meeting actions' only


def test_a_run_while_another_runs_sends_nothing(instance):
    import fcntl

    from taizhang.reminders import LOCK_FILE

    data_dir, mails, _ = instance
    with open(data_dir.path / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = remind(data_dir, "2026-11-18 09:00")
    assert result.exit_code == 0 and "正在运行" in result.output and mails.messages == []
    assert remind(data_dir, "2026-11-18 09:00").exit_code == 0 and len(mails.messages) == 2


def test_dry_run_sends_and_records_nothing(instance, monkeypatch):
    data_dir, mails, hooks = instance
    monkeypatch.setenv("TAIZHANG_NOW", "2026-11-18 09:00")
    result = CliRunner().invoke(cli, ["remind", "--data-dir", str(data_dir.path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "试运行" in result.output and "[到期提醒] email → 专员丙（00003）" in result.output
    assert mails.messages == [] and hooks.posts == [] and not (data_dir.notify_path).exists()


def test_settings_problems_are_said_in_chinese(instance):
    data_dir, _, _ = instance
    settings = data_dir.path / "notify.yml"
    settings.write_text("email: {host: smtp.example.internal, from: a@example.com, password: hunter2}\n", encoding="utf-8")
    result = remind(data_dir, "2026-11-18 09:00")
    assert result.exit_code == 1 and "不能写邮件密码" in result.output and "Traceback" not in result.output
    settings.unlink()
    result = remind(data_dir, "2026-11-18 09:00")
    assert result.exit_code == 1 and "没有可用的 notify.yml" in result.output
    result = remind(data_dir, "下周一")
    assert result.exit_code == 2 and "不是时间" in result.output


@pytest.mark.asyncio
async def test_the_record_of_reminders_is_private_and_not_served(instance):
    from taizhang.app import make_datasette
    from tests.conftest import actor

    data_dir, _, _ = instance
    assert remind(data_dir, "2026-11-18 09:00").exit_code == 0
    assert oct((data_dir.notify_path).stat().st_mode)[-3:] == "600"
    ds = make_datasette(data_dir)
    await ds.invoke_startup()
    assert "notify" not in ds.databases
    assert (await ds.client.get("/notify.json", actor=actor("admin"))).status_code == 404
