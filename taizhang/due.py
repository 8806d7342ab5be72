"""Deadlines, as SQL generated from the `due:` rules of db/registers.yml — one source for
我的待办 (plugins/home.py), the overdue reports (taizhang/generate.py) and `taizhang remind`.

Every time is the instance's local time as 'YYYY-MM-DD HH:MM' text, so comparing two is
comparing strings. A rule's deadline (`due_at`) is:
- `at:` a date → the end of that local day (the next day 00:00); a datetime → that minute;
- `state:` + hours → that long after the row entered the state: the newest audit log row of
  the row whose after-state is the state and whose before-state is not (or its insert). The log
  keeps UTC, so the SQL takes the zone's offset as a parameter.
Level 0 is the reminder, at due − before_hours; level k is the k-th escalation, at due +
after_hours. The SQL takes these parameters (plugins/clock.py gives the same as magic ones):
  :_tz_today   'YYYY-MM-DD'        :_tz_now  'YYYY-MM-DD HH:MM'
  :_tz_offset  '+480 minutes' (the zone's offset from UTC, for the audit log's times)
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from taizhang import clock
from taizhang.audit_guard import LOG
from taizhang.people import headed_by_sql, holds_role_sql
from taizhang.registers import DEPARTMENT_HEAD, OWNER, Definition, Due, Register
from taizhang.schema import literal, quote

# 我的待办 shows a date deadline at least this long before it is due (a datetime or state
# deadline: within its before_hours, and at least a day / from the moment it is waiting).
SOON_HOURS_DATE = 7 * 24
SOON_HOURS_DATETIME = 24


@dataclass(frozen=True)
class Level:
    number: int             # 0: the reminder; k: the k-th escalation
    offset_hours: float     # from the deadline: -before_hours, or +after_hours
    people: tuple[str, ...]

    @property
    def label(self) -> str:
        return "到期提醒" if self.number == 0 else f"第 {self.number} 次升级"


def levels(rule: Due) -> list[Level]:
    return [Level(0, -rule.before_hours, rule.remind),
            *(Level(k, e.after_hours, e.to) for k, e in enumerate(rule.escalate, start=1))]


def offset(local: datetime.datetime) -> str:
    """The zone's offset from UTC as an SQLite modifier ('+480 minutes')."""
    delta = local.utcoffset() or datetime.timedelta(0)
    return f"{int(delta.total_seconds() // 60):+d} minutes"


def params(now: datetime.datetime | None = None) -> dict[str, str]:
    """The SQL's time parameters, for now (or an aware instant)."""
    local = clock.now(now)
    return {"_tz_today": local.date().isoformat(), "_tz_now": local.strftime("%Y-%m-%d %H:%M"),
            "_tz_offset": offset(local)}


def is_role(definition: Definition, reg: Register, word: str) -> bool:
    """A person word that means every login with that role (not someone of the row)."""
    return word not in (OWNER, DEPARTMENT_HEAD) and word not in reg.columns and word in definition.roles


def person_sql(reg: Register, word: str) -> str:
    """The employees.id a person word names for row `t`."""
    if word == OWNER:
        return f"t.{quote(reg.owner)}"
    if word == DEPARTMENT_HEAD:
        # The head of the owner's department; its parent's head when the owner heads it.
        owner = f"t.{quote(reg.owner)}"
        return (f"(SELECT CASE WHEN d.manager_id IS {owner} THEN (SELECT p.manager_id FROM departments p"
                f" WHERE p.id = d.parent_id) ELSE d.manager_id END FROM employees o JOIN departments d"
                f" ON d.id = o.department_id WHERE o.id = {owner})")
    return f"t.{quote(word)}"


def _people(definition: Definition, reg: Register, rule: Due) -> list[str]:
    words = [w for level in levels(rule) for w in level.people]
    return [w for w in dict.fromkeys(words) if not is_role(definition, reg, w)]


def _shift(time_sql: str, hours: float) -> str:
    return f"strftime('%Y-%m-%d %H:%M', {time_sql}, {literal(f'{hours:+g} hours')})"


def _entered_sql(reg: Register, rule: Due) -> str:
    """When row t entered the rule's state, UTC as the audit log keeps it."""
    column = "$." + reg.workflow.column if reg.workflow else "$.status"
    state = literal(rule.state)
    return (f"coalesce((SELECT l.at FROM {LOG} l WHERE l.table_name = {literal(reg.name)} AND l.row_id = t.id"
            f" AND json_extract(l.after, {literal(column)}) = {state}"
            f" AND (l.before IS NULL OR json_extract(l.before, {literal(column)}) IS NOT {state})"
            f" ORDER BY l.id DESC LIMIT 1), t.created_at)")


def items_sql(definition: Definition, reg: Register, number: int, only: str | None = None) -> str:
    """The rows one rule applies to now (and, given `only`, a condition on row t, those
    rows), each with its deadline, when each level starts and the employees.id of each person
    it names (person_<word>). Each step is MATERIALIZED: inlined, the deadline's expression
    would be computed again for every use of it."""
    rule = reg.due[number]
    state_column = quote(reg.workflow.column if reg.workflow else "status")
    if rule.at:
        value = f"({rule.at})"
        soon = SOON_HOURS_DATETIME
        where = [f"({rule.active})"] if rule.active else []
    else:
        value = f"strftime('%Y-%m-%d %H:%M', {_entered_sql(reg, rule)}, :_tz_offset, {literal(f'+{rule.hours:g} hours')})"
        soon = rule.hours
        where = [f"t.{state_column} = {literal(rule.state)}", *([f"({rule.active})"] if rule.active else [])]
    where += [f"({only})"] if only else []
    columns = [
        f"{literal(reg.name)} AS register", f"{number} AS rule", f"{literal(rule.label)} AS rule_label",
        "t.id AS row_id", f"t.{quote(reg.label_column)} AS item", f"{value} AS due_value",
        *(f"{person_sql(reg, w)} AS {quote('person_' + w)}" for w in _people(definition, reg, rule)),
    ]
    rows = f"SELECT {', '.join(columns)} FROM {quote(reg.name)} t" + (f" WHERE {' AND '.join(where)}" if where else "")
    timed = ("SELECT *, CASE WHEN length(due_value) = 10 THEN strftime('%Y-%m-%d %H:%M', due_value, '+1 day')"
             " ELSE strftime('%Y-%m-%d %H:%M', due_value) END AS due_at, length(due_value) = 10 AS date_only"
             " FROM due_rows WHERE due_value IS NOT NULL")
    window = (f"CASE WHEN date_only THEN {max(rule.before_hours, SOON_HOURS_DATE):g}"
              f" ELSE {max(rule.before_hours, soon):g} END")
    starts = [f"{_shift('due_at', level.offset_hours)} AS level{level.number}_at" for level in levels(rule)]
    return (f"WITH due_rows AS MATERIALIZED ({rows}), due_timed AS MATERIALIZED ({timed})"
            f" SELECT *, {', '.join(starts)}, strftime('%Y-%m-%d %H:%M', due_at, '-' || ({window}) || ' hours') AS soon_at"
            " FROM due_timed WHERE due_at IS NOT NULL")


def _possibly_mine_sql(definition: Definition, reg: Register, rule: Due) -> str:
    """Rows the login (:employee_id, :roles) is some person of, at any level: found through the
    people columns' indexes before any deadline is worked out."""
    tests = []
    for word in dict.fromkeys(w for level in levels(rule) for w in level.people):
        if is_role(definition, reg, word):
            tests.append(holds_role_sql(":roles", word))
        elif word == DEPARTMENT_HEAD:
            tests.append(f"t.{quote(reg.owner)} IN ({headed_by_sql(':employee_id')})")
        else:
            tests.append(f"t.{quote(reg.owner if word == OWNER else word)} = :employee_id")
    return " OR ".join(tests) or "0"


def _late_sql() -> str:
    """How late an overdue item is, for people: days for a date, hours (or days) otherwise."""
    days = "CAST(julianday(:_tz_today) - julianday(due_value) AS INTEGER)"
    # whole minutes first: julianday's floating point makes an hour 0.99999… hours
    hours = "(CAST(round((julianday(:_tz_now) - julianday(due_at)) * 1440) AS INTEGER) / 60)"
    return (f"CASE WHEN :_tz_now < due_at THEN NULL WHEN date_only THEN {days} || ' 天'"
            f" WHEN {hours} >= 48 THEN ({hours} / 24) || ' 天' ELSE {hours} || ' 小时' END")


def _mine_sql(definition: Definition, reg: Register, people: tuple[str, ...]) -> str:
    """Whether the login (:employee_id, :roles as ',a,b,') is one of these people."""
    tests = [holds_role_sql(":roles", w) if is_role(definition, reg, w)
             else f"{quote('person_' + w)} = :employee_id" for w in people]
    return "(" + " OR ".join(tests or ["0"]) + ")"


def todo_sql(definition: Definition, reg: Register) -> str:
    """我的待办 for one register: the items the login is to be reminded of (or, once escalated
    to them, an escalation target of), due soon or overdue. Params: the time ones, :employee_id
    and :roles."""
    parts = []
    for number, rule in enumerate(reg.due):
        mine = [f"(:_tz_now >= level{lv.number}_at AND {_mine_sql(definition, reg, lv.people)})" if lv.number
                else _mine_sql(definition, reg, lv.people) for lv in levels(rule)]
        escalated = " + ".join(f"(:_tz_now >= level{lv.number}_at)" for lv in levels(rule)[1:]) or "0"
        parts.append(f"SELECT register, rule, rule_label, row_id, item, due_value, due_at, date_only,"
                     f" {_late_sql()} AS late, {escalated} AS escalations"
                     f" FROM ({items_sql(definition, reg, number, only=_possibly_mine_sql(definition, reg, rule))})"
                     f" WHERE :_tz_now >= soon_at AND ({' OR '.join(mine)})")
    return " UNION ALL ".join(parts) + " ORDER BY due_at, row_id"


def _people_names_sql(definition: Definition, reg: Register, people: tuple[str, ...]) -> str:
    names = []
    for w in people:
        if is_role(definition, reg, w):
            names.append(literal(definition.roles[w]["label"] + "（全部）"))
        else:
            names.append(f"(SELECT name FROM employees WHERE id = {quote('person_' + w)})")
    return " || '、' || ".join(f"coalesce({n}, '（未指定）')" for n in names) or "''"


def report_name(reg: Register) -> str:
    return f"due_{reg.name}"


def report_sql(definition: Definition, reg: Register) -> str:
    """The overdue report of one register: every item past its deadline, how late, who is to be
    reminded and how far it has been escalated."""
    parts = []
    for number, rule in enumerate(reg.due):
        lv = levels(rule)
        reached = " ".join(f"WHEN :_tz_now >= level{x.number}_at THEN {literal(x.label + '：')} || {_people_names_sql(definition, reg, x.people)}"
                           for x in reversed(lv[1:]))
        parts.append(
            f"SELECT row_id AS 编号, item AS 事项, rule_label AS 期限, due_value AS 到期, {_late_sql()} AS 逾期,"
            f" {_people_names_sql(definition, reg, lv[0].people)} AS 提醒对象,"
            f" CASE {reached or 'WHEN 0 THEN NULL'} ELSE '' END AS 已升级, due_at"
            f" FROM ({items_sql(definition, reg, number)}) WHERE :_tz_now >= due_at")
    return ("SELECT 编号, 事项, 期限, 到期, 逾期, 提醒对象, 已升级 FROM (\n" + "\nUNION ALL\n".join(parts)
            + "\n) ORDER BY due_at, 编号")


def report(definition: Definition, reg: Register) -> dict:
    return {"title": f"逾期事项：{reg.label}",
            "description": f"{reg.label}中已过期限的事项：逾期多久、提醒谁、已升级到谁（由台账定义中的期限规则生成）。",
            "sql": report_sql(definition, reg)}


def reminders_sql(definition: Definition, reg: Register) -> str:
    """Every reminder and escalation due by :_tz_now, one row per (item, level, person word):
    `employee_id` for someone of the row, NULL for a role word (every login with it)."""
    parts = []
    for number, rule in enumerate(reg.due):
        for lv in levels(rule):
            for word in lv.people:
                who = "NULL" if is_role(definition, reg, word) else quote("person_" + word)
                parts.append(
                    f"SELECT register, rule, rule_label, row_id, item, due_value, due_at, {lv.number} AS level,"
                    f" {literal(word)} AS person, {who} AS employee_id, {_late_sql()} AS late"
                    f" FROM ({items_sql(definition, reg, number)}) WHERE :_tz_now >= level{lv.number}_at")
    return " UNION ALL ".join(parts) + " ORDER BY due_at, row_id, level"


def registers_with_due(definition: Definition) -> list[Register]:
    return [reg for reg in definition.registers.values() if reg.due]
