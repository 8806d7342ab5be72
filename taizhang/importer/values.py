"""Cell values from real registers, turned into what the database stores — or a reason, in
Chinese, with what to do about it.

Dates from date cells, serials (1900 and 1904 workbooks), 2024年3月5日, 2024/3/5, 2024.03.05,
20240305 and 2024-3-5; periods, times, money (¥1,200.00, 1200元, 1.2万), integers with units;
IDs and phone numbers always text (never 12.0), zero-padded to a `00000` format; enum and
yes/no synonyms. Free text is stored exactly as typed (trimmed), never converted 简/繁.
"""

from __future__ import annotations

import datetime
import math
import re

from taizhang.characters import BLANK_TEXT, normalise_key
from taizhang.chinese import to_simplified
from taizhang.registers import Column, normalise_token


class CellError(Exception):
    def __init__(self, reason: str, hint: str):
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


# Surrounding whitespace people leave in cells: every Unicode space (ideographic U+3000,
# no-break U+00A0 …), tabs, line breaks and zero-width characters.
SPACES = BLANK_TEXT
# Full-width forms of ASCII (U+FF01–U+FF5E), for digits, ＠ and punctuation in numbers, dates,
# phones and emails — not for free text, which keeps what was typed.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
OPEN_ENDED = {"长期", "长期有效", "長期", "長期有效", "无固定期限", "無固定期限", "永久"}
# What SQLite can store as an INTEGER (a larger one cannot even be bound).
SQLITE_MIN_INT, SQLITE_MAX_INT = -(2**63), 2**63 - 1
EXCEL_EPOCH_1900 = datetime.date(1899, 12, 30)  # serial 1 = 1900-01-01, past Excel's 1900 leap bug
EXCEL_EPOCH_1904 = datetime.date(1904, 1, 1)
CHINESE_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "１": 1, "２": 2, "３": 3, "４": 4}


def empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip(SPACES))


def ascii_forms(text: str) -> str:
    return text.translate(_FULL_WIDTH).strip(SPACES)


def _iso(year: int, month: int, day: int, shown: str) -> str:
    try:
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        raise CellError(f"日期不存在：{shown}", "请核对年月日（如 2 月没有 30 日）")


_DATE_PATTERNS = [
    re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?$"),
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
]


def parse_date(value, *, date1904: bool = False, open_ended: bool = False) -> str | None:
    if empty(value):
        return None
    if isinstance(value, datetime.datetime):
        return value.date().isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if float(value).is_integer() and 19000101 <= value <= 29991231:
            text = str(int(value))
            return _iso(int(text[:4]), int(text[4:6]), int(text[6:]), text)
        if 1 <= value <= 2958465:  # Excel's serial range
            epoch = EXCEL_EPOCH_1904 if date1904 else EXCEL_EPOCH_1900
            return (epoch + datetime.timedelta(days=int(value))).isoformat()
        raise CellError(f"无法识别的日期：{value}", "请填写如 2024-03-05 的日期")
    text = ascii_forms(str(value))
    if open_ended and text in OPEN_ENDED:
        return None
    for pattern in _DATE_PATTERNS:
        if m := pattern.match(text):
            return _iso(int(m[1]), int(m[2]), int(m[3]), text)
    hint = "请填写如 2024-03-05 或 2024年3月5日 的日期"
    if open_ended:
        hint += "；长期有效请留空或填“长期有效”"
    raise CellError(f"无法识别的日期：{text}", hint)


def parse_period(value) -> str | None:
    """2024, 2024-Q2, 2024-05 — from 2024Q2, 2024年第3季度, 2024年度, 2024年5月, 2024.0 …"""
    if empty(value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        value = str(int(value))
    if isinstance(value, datetime.date):
        return value.strftime("%Y-%m")
    text = ascii_forms(str(value)).upper().replace(" ", "")
    if m := re.match(r"^(\d{4})(?:年度?)?$", text):
        return m[1]
    if m := re.match(r"^(\d{4})(?:年)?[-/.]?(?:Q|第)([1-4一二三四])(?:季度?)?$", text):
        return f"{m[1]}-Q{CHINESE_DIGITS.get(m[2], m[2])}"
    if m := re.match(r"^(\d{4})(?:年|[-/.])(\d{1,2})月?$", text):
        if 1 <= int(m[2]) <= 12:
            return f"{m[1]}-{int(m[2]):02d}"
    raise CellError(f"无法识别的评估期间：{text}", "请填写 2024、2024-Q2 或 2024-05")


def parse_time(value) -> str | None:
    if empty(value):
        return None
    if isinstance(value, (datetime.time, datetime.datetime)):
        return value.strftime("%H:%M")
    if isinstance(value, datetime.timedelta):
        minutes = round(value.total_seconds() / 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    if isinstance(value, float) and 0 <= value < 1:  # a time cell read as a fraction of a day
        minutes = round(value * 24 * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}"
    text = ascii_forms(str(value)).replace("：", ":")
    if m := re.match(r"^(\d{1,2})(?::|点|時|时)(\d{1,2})?分?(?::\d{2})?$", text):
        hour, minute = int(m[1]), int(m[2] or 0)
        if hour < 24 and minute < 60:
            return f"{hour:02d}:{minute:02d}"
    raise CellError(f"无法识别的时间：{text}", "请填写如 09:30 的时间（24 小时制）")


# 'YYYY-MM-DD HH:MM', what a datetime column stores: a date as parse_date reads it, then a time as
# parse_time reads it, after a space or T (what a browser's datetime-local sends: 2026-12-02T09:30)
# or right after 日 (2026年12月2日9:30); seconds and their fractions are dropped.
_DATETIME = re.compile(r"^(?P<date>.+?)(?:\s+|T|(?<=日))(?P<time>\d{1,2}(?::|点|時|时)(?:\d{1,2}分?)?)(?::\d{2}(?:\.\d+)?)?$")
DATETIME_HINT = "请填写如 2026-12-02 09:30 的日期和时间（24 小时制）"


def parse_datetime(value) -> str | None:
    if empty(value):
        return None
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    text = ascii_forms(str(value)).replace("：", ":")
    m = _DATETIME.match(text)
    if m is None:
        raise CellError(f"无法识别的日期时间：{text}", DATETIME_HINT)
    try:
        return f"{parse_date(m['date'])} {parse_time(m['time'])}"
    except CellError as ex:   # 2026-02-30 9:30 is an impossible date: say that, not "unreadable"
        raise CellError(ex.reason if ex.reason.startswith("日期不存在") else f"无法识别的日期时间：{text}",
                        DATETIME_HINT) from None


_UNITS = {"万": 10_000, "萬": 10_000, "亿": 100_000_000, "億": 100_000_000, "千": 1_000, "k": 1_000, "K": 1_000}


def _number(value, label: str, hint: str) -> float:
    if isinstance(value, bool):
        raise CellError(f"{label}应为数字，收到 {value}", hint)
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise CellError(f"{label}不是有限的数字", hint)
        return float(value)
    text = ascii_forms(str(value))
    text = re.sub(r"^(RMB|CNY|¥|￥)|(元|RMB|CNY)$", "", text, flags=re.I).replace(",", "").replace("，", "").strip()
    multiplier = 1
    if text and text[-1] in _UNITS:
        multiplier, text = _UNITS[text[-1]], text[:-1]
    try:
        number = float(text) * multiplier
    except ValueError:
        raise CellError(f"{label}应为数字，收到「{value}」", hint)
    if not math.isfinite(number):   # float() reads inf, nan, 1e400; a register holds none of them
        raise CellError(f"{label}不是有限的数字：「{value}」", hint)
    return number


def parse_money(value, scale: float = 1) -> float | None:
    if empty(value):
        return None
    return round(_number(value, "金额", "请填写数字，如 1200、¥1,200.00 或 1.2万") * scale, 2)


def parse_real(value, scale: float = 1) -> float | None:
    if empty(value):
        return None
    if isinstance(value, str):
        value = re.sub(r"(小时|小時|分|学时|學時|天|h|%)$", "", ascii_forms(value))
    number = _number(value, "数值", "请填写数字") * scale
    return round(number, 10)


def parse_int(value) -> int | None:
    """Integers, also with a unit typed after them: 2023年, 30天, 5次."""
    if empty(value):
        return None
    if isinstance(value, str):
        value = re.sub(r"(年度|年|天|日|次|个|個|人|分|级|級|名)$", "", ascii_forms(value))
    if isinstance(value, int) and not isinstance(value, bool):
        number = value   # exactly as given: a float would round a large integer
    else:
        number = _number(value, "整数", "请填写整数")
        if not number.is_integer():
            raise CellError(f"应为整数，收到 {number:g}", "请填写整数")
        number = int(number)
    if not SQLITE_MIN_INT <= number <= SQLITE_MAX_INT:
        raise CellError(f"数值过大：{value}", "请填写合理范围内的整数")
    return number


def parse_text(value, number_format: str | None = None) -> str | None:
    """Text as typed; a number in a text column (工号, phone) becomes its digits — never 12.0 —
    padded to the width of a zeros format such as 00000."""
    if empty(value):
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        if float(value).is_integer():
            text = str(int(value))
            if number_format and re.fullmatch(r"0+", number_format):
                text = text.zfill(len(number_format))
            return text
        return repr(float(value))
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value).strip(SPACES)


def parse_contact(value, number_format: str | None = None) -> str | None:
    """Phones and emails: text, with full-width digits, ＠ and punctuation made ASCII."""
    text = parse_text(value, number_format)
    return ascii_forms(text) if text is not None else None


def parse_choice(value, column: Column):
    """Enum and yes/no columns: any synonym, in 简 or 繁 form, any case -> the stored value."""
    if empty(value):
        return None
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # Input is compared in 简体 (OpenCC t2s), so every 繁體 spelling of a value is read as it.
    canonical = column.synonyms().get(normalise_token(str(value)))
    if canonical is None:
        canonical = column.synonyms().get(normalise_token(to_simplified(str(value))))
    if canonical is None:
        choices = "、".join(str(v) for v in column.values) if column.type == "enum" else "是/否、√/×、Y/N、1/0"
        raise CellError(f"「{value}」不是{column.label}的可选值", f"请填写：{choices}")
    return canonical


def parse_cell(column: Column, value, *, date1904: bool = False, scale: float = 1, number_format: str | None = None):
    """One cell for one column (not foreign keys: references are resolved by the engine)."""
    kind = column.type
    if kind == "date":
        return parse_date(value, date1904=date1904, open_ended=column.open_ended)
    if kind == "period":
        return parse_period(value)
    if kind == "time":
        return parse_time(value)
    if kind == "datetime":
        return parse_datetime(value)
    if kind in ("enum", "bool"):
        return parse_choice(value, column)
    if kind == "int":
        return parse_int(value)
    if kind == "real":
        return parse_money(value, scale) if column.money else parse_real(value, scale)
    if column.format in ("phone", "email"):
        return parse_contact(value, number_format)
    text = parse_text(value, number_format)
    # A natural key as the database stores it (its trigger does the same), so ００12 finds 0012.
    if column.key and text is not None:
        return normalise_key(text) or None
    return text
