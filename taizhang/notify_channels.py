"""Where reminders go: e-mail over SMTP and webhooks (企业微信, 钉钉 and 飞书 group robots, or a
generic JSON POST), as set in notify.yml in the data dir. Passwords never go in that file: the
SMTP password comes from an environment variable, and a robot whose URL is its secret can be
given as `url_env`.

    email: {host: smtp.example.internal, port: 587, from: taizhang@example.internal, starttls: true, user: taizhang}
    webhooks:
      - {kind: wecom, url_env: TAIZHANG_WECOM_URL}
      - {kind: json, url: https://ops.example.internal/hooks/taizhang, name: ops-hook, private: true}
    base_url: https://taizhang.example.internal      # for links to the row in messages

A group robot is read by the whole group: reminders about confidential or personal registers
(保密协议, 请假, 报销) go only by e-mail and to webhooks marked `private: true` (ones that reach the
person reminded alone).
"""

from __future__ import annotations

import json
import os
import pathlib
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

import yaml

SETTINGS_FILE = "notify.yml"
PASSWORD_ENV = "TAIZHANG_SMTP_PASSWORD"
WEBHOOK_KINDS = {"wecom": "企业微信机器人", "dingtalk": "钉钉机器人", "feishu": "飞书机器人", "json": "JSON 网络钩子"}
TIMEOUT = 20


class SettingsError(ValueError):
    """notify.yml cannot be used; the message says what to fix (Chinese)."""


class SendFailed(Exception):
    """One message was not delivered; the message says why (Chinese)."""


@dataclass(frozen=True)
class Message:
    """One reminder for one person, in every form a channel needs."""

    subject: str
    text: str
    recipient_name: str
    email: str | None
    phone: str | None
    data: dict            # the facts, for the generic JSON webhook


@dataclass(frozen=True)
class Webhook:
    kind: str
    url: str
    name: str
    private: bool = False     # reaches only the person reminded: may carry confidential registers

    def body(self, message: Message) -> dict:
        text = f"{message.subject}\n{message.text}"
        mobiles = [message.phone] if message.phone else []
        if self.kind == "wecom":
            return {"msgtype": "text", "text": {"content": text, "mentioned_mobile_list": mobiles}}
        if self.kind == "dingtalk":
            return {"msgtype": "text", "text": {"content": text}, "at": {"atMobiles": mobiles, "isAtAll": False}}
        if self.kind == "feishu":
            return {"msg_type": "text", "content": {"text": text}}
        return {**message.data, "subject": message.subject, "text": message.text}

    def send(self, message: Message) -> None:
        request = urllib.request.Request(
            self.url, data=json.dumps(self.body(message), ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                answer = response.read()
        except urllib.error.HTTPError as ex:
            raise SendFailed(f"{WEBHOOK_KINDS[self.kind]}（{self.name}）答复 HTTP {ex.code}") from ex
        except (urllib.error.URLError, OSError) as ex:
            raise SendFailed(f"连不上{WEBHOOK_KINDS[self.kind]}（{self.name}）：{getattr(ex, 'reason', ex)}") from ex
        if self.kind != "json":
            # The robots answer 200 with an error code in the body (errcode / code).
            try:
                result = json.loads(answer or b"{}")
            except ValueError:
                result = {}
            code = result.get("errcode", result.get("code", result.get("StatusCode", 0))) if isinstance(result, dict) else 0
            if code not in (0, None):
                reason = result.get("errmsg") or result.get("msg") or ""
                raise SendFailed(f"{WEBHOOK_KINDS[self.kind]}（{self.name}）拒收：错误码 {code} {reason}".strip())


@dataclass(frozen=True)
class Email:
    host: str
    port: int
    sender: str
    starttls: bool
    user: str | None

    name = "email"

    def open(self) -> smtplib.SMTP:
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
            if self.starttls:
                smtp.starttls()
            if self.user:
                password = os.environ.get(PASSWORD_ENV)
                if not password:
                    smtp.quit()
                    raise SendFailed(f"notify.yml 设置了邮件用户 {self.user}，但环境变量 {PASSWORD_ENV} 没有密码")
                smtp.login(self.user, password)
        except (OSError, smtplib.SMTPException) as ex:
            raise SendFailed(f"连不上邮件服务器 {self.host}:{self.port}：{ex}") from ex
        return smtp

    def send(self, smtp: smtplib.SMTP, message: Message) -> None:
        if not message.email:
            raise SendFailed(f"{message.recipient_name}在员工台账里没有邮箱，请补上后会在下次运行时重发")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.email, message.subject
        mail.set_content(message.text)
        try:
            smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as ex:
            raise SendFailed(f"发给 {message.email} 的邮件被邮件服务器拒绝：{ex}") from ex


@dataclass(frozen=True)
class Settings:
    email: Email | None
    webhooks: tuple[Webhook, ...]
    base_url: str | None

    @property
    def channels(self) -> list[str]:
        return [*(["email"] if self.email else []), *(w.name for w in self.webhooks)]

    def channels_for(self, register) -> list[str]:
        """The channels a reminder about this register may go to (see the module's note)."""
        if not (register.confidential or register.personal):
            return self.channels
        return [*(["email"] if self.email else []), *(w.name for w in self.webhooks if w.private)]


def load(data_dir_path: pathlib.Path) -> Settings | None:
    """notify.yml of the data dir; None when there is none."""
    path = data_dir_path / SETTINGS_FILE
    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as ex:
        raise SettingsError(f"{SETTINGS_FILE} 不是有效的 YAML：{ex}") from ex
    if not isinstance(data, dict):
        raise SettingsError(f"{SETTINGS_FILE} 应是键值对（email、webhooks、base_url）")
    if unknown := set(data) - {"email", "webhooks", "base_url"}:
        raise SettingsError(f"{SETTINGS_FILE} 有不认识的设置：{'、'.join(sorted(map(str, unknown)))}（可用：email、webhooks、base_url）")
    return Settings(email=_email(data.get("email")), webhooks=_webhooks(data.get("webhooks")),
                    base_url=(str(data["base_url"]).rstrip("/") if data.get("base_url") else None))


def _email(spec) -> Email | None:
    if not spec:
        return None
    if not isinstance(spec, dict) or not spec.get("host") or not spec.get("from"):
        raise SettingsError(f"{SETTINGS_FILE} 的 email 需要 host 和 from（发件地址）")
    if "password" in spec:
        raise SettingsError(f"{SETTINGS_FILE} 里不能写邮件密码：请放在环境变量 {PASSWORD_ENV} 中")
    try:
        port = int(spec.get("port", 587))
    except (TypeError, ValueError):
        raise SettingsError(f"{SETTINGS_FILE} 的 email.port 应是端口号，不是 {spec.get('port')!r}") from None
    return Email(host=str(spec["host"]), port=port, sender=str(spec["from"]),
                 starttls=bool(spec.get("starttls", True)), user=spec.get("user"))


def _webhooks(specs) -> tuple[Webhook, ...]:
    hooks = []
    for number, spec in enumerate(specs or (), start=1):
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind not in WEBHOOK_KINDS:
            raise SettingsError(f"{SETTINGS_FILE} 的第 {number} 个 webhook 的 kind 应是 {'、'.join(WEBHOOK_KINDS)} 之一")
        url = spec.get("url") or (os.environ.get(spec["url_env"]) if spec.get("url_env") else None)
        if not url or not str(url).startswith(("http://", "https://")):
            where = f"环境变量 {spec['url_env']}" if spec.get("url_env") else "url"
            raise SettingsError(f"{SETTINGS_FILE} 的第 {number} 个 webhook 缺少 http(s) 地址（{where}）")
        hooks.append(Webhook(kind=kind, url=str(url), name=str(spec.get("name") or kind), private=bool(spec.get("private"))))
    names = [h.name for h in hooks]
    if len(names) != len(set(names)) or "email" in names:
        raise SettingsError(f"{SETTINGS_FILE} 的 webhook 需要各不相同的 name（同类机器人有多个时）")
    return tuple(hooks)
