"""Demo rows for the process registers: tasks and their progress notes, leave requests, expense
claims, customer feedback, visits and front-desk receptions, partner rectifications, work plans
and work reports, performance appraisals and their improvement plans.

A workflow row is reached the way people reach it: inserted in an initial state by someone its
`create_by` allows, then moved one transition at a time, each step its own audited transaction
with the person the transition names as the writer (audit.Who with their 工号 and every role
they hold, department_head included) and the comment the transition asks for as the note. So a
row's history is a real timeline and the workflow triggers accept every step. Other columns
change only in the states `edit:` allows and by the people it names; a transition changes the
state alone.

Logins exist only for the demo accounts; anyone else acts under their name and 工号 (as they
would with the employee login every member of staff has in production). Dates are relative to
`today`, with some items overdue so 我的待办 and the reminders have something to show.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from taizhang import audit

SEED = 20261121
DEMO_NOTE = "演示数据（taizhang init --demo）"
# The hour the demo's "now" is taken at, for date-times relative to today.
OFFICE_HOURS = (9, 18)


@dataclass(frozen=True)
class Person:
    id: int
    no: str
    name: str
    dept: str
    position: str
    login: str | None   # the demo login's username, for the demo accounts
    role: str           # the login's role; staff without one act as employee (财务部: finance)
    active: bool


class Cast:
    """Who is who in the demo organisation: people, department heads, parent departments."""

    def __init__(self, staff: list[dict], departments: list[tuple], accounts: dict[str, str]):
        by_no = {no: role for role, no in accounts.items()}
        self.people = [Person(
            id=p["id"], no=p["no"], name=p["name"], dept=p["dept"], position=p["position"],
            login=f"demo-{by_no[p['no']]}" if p["no"] in by_no else None,
            role=by_no.get(p["no"]) or ("finance" if p["dept"] == "财务部" else "employee"),
            active=p["status"] != "离职") for p in staff]
        leaders = {d[0]: d[2] for d in departments}
        self.parent = {d[0]: d[1] for d in departments}
        self.heads = {p.dept: p for p in self.people if leaders.get(p.dept) == p.position}
        self.account = {role: next(p for p in self.people if p.no == no) for role, no in accounts.items()}

    def heads_a_department(self, person: Person) -> bool:
        return any(h.id == person.id for h in self.heads.values())

    def head_for(self, owner: Person) -> Person | None:
        """The department head who approves for `owner`: their department's, or its parent's
        when the owner heads it (as the definition's department_head)."""
        dept = owner.dept
        while dept is not None:
            head = self.heads.get(dept)
            if head is not None and head.id != owner.id:
                return head
            dept = self.parent.get(dept)
        return None

    def members(self, dept: str) -> list[Person]:
        """The department's active staff, its head not included."""
        return [p for p in self.people if p.dept == dept and p.active and not self.heads_a_department(p)]

    def others(self, dept: str) -> list[Person]:
        """Its members without a demo login (the accounts have rows of their own)."""
        return [p for p in self.members(dept) if p.login is None]

    def who(self, person: Person, note: str | None = None) -> audit.Who:
        # As a login gets them (taizhang/people.py): its own role, self-service, and head of a department.
        roles = list(dict.fromkeys([person.role, "employee", *(["department_head"] if self.heads_a_department(person) else [])]))
        return audit.Who(actor=person.login or f"{person.name}（{person.no}）", role=person.role, source="cli",
                         note=note, employee_no=person.no, roles=tuple(roles))


class Steps:
    """Writes, one audited transaction each, as the person given."""

    def __init__(self, conn, key: bytes, cast: Cast):
        self.conn, self.key, self.cast = conn, key, cast

    def insert(self, person: Person, table: str, row: dict) -> int:
        cols = [c for c, v in row.items() if v is not None]
        with audit.audited(self.conn, self.cast.who(person), self.key):
            return self.conn.execute(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                [row[c] for c in cols]).lastrowid

    def edit(self, person: Person, table: str, row_id: int, **values) -> None:
        with audit.audited(self.conn, self.cast.who(person), self.key):
            self.conn.execute(f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in values)} WHERE id = ?",
                              [*values.values(), row_id])

    def move(self, person: Person, table: str, row_id: int, state: str, comment: str | None = None) -> None:
        """One transition: the state column alone, the comment recorded as the audit note."""
        with audit.audited(self.conn, self.cast.who(person, note=comment), self.key):
            self.conn.execute(f"UPDATE {table} SET status = ? WHERE id = ?", [state, row_id])


def _d(n: float) -> datetime.timedelta:
    return datetime.timedelta(days=n)


def _at(day: datetime.date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()} {hour:02d}:{minute:02d}"


# -- customer visits (no workflow: one transaction, with the other base data) ---------------------
VISIT_CONTENT = ["季度例行电话回访，了解近期使用情况", "上门拜访，介绍新品与会员权益", "节前问候并推荐礼盒套装",
                 "跟进上次投诉的处理结果", "邀请参加新品品鉴会", "核对年度采购计划与报价"]
VISIT_FEEDBACK = ["整体满意，希望配送再快一些", "对售后响应速度满意", "价格偏高，考虑对比其他品牌", "希望增加线上下单渠道",
                  "暂无新需求", "对会员积分规则有疑问，已解释", None]


def visits(conn, rng: random.Random, today: datetime.date, customers: list[dict]) -> int:
    """Every customer's visits: the newest on its planned last-visit date, some an earlier one a
    follow-up interval before. customers.last_visit_on is their newest visit (the rollup trigger
    keeps it; set here too, only where it differs, for files made before that trigger)."""
    ids = dict(conn.execute("SELECT customer_no, id FROM customers"))
    rows = []
    for c in customers:
        if c["visit"] is None:
            continue
        dates = [c["visit"]]
        if rng.random() < 0.4:
            dates.append(c["visit"] - _d(c["follow"] + rng.randint(-5, 10)))
        for k, day in enumerate(dates):
            risk = c["churn_risk"] if k == 0 else rng.choice(["低", "中"])
            rows.append((ids[c["customer_no"]], day.isoformat(), c["owner_id"],
                         rng.choice(["电话", "电话", "上门", "微信", "邮件"]), rng.choice(VISIT_CONTENT),
                         rng.choice(VISIT_FEEDBACK), rng.choices([5, 4, 3, 2], [30, 45, 20, 5])[0], risk))
    conn.executemany(
        "INSERT INTO customer_visits (customer_id, visited_on, visitor_id, method, content, feedback,"
        " satisfaction, churn_risk) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute(
        "UPDATE customers SET last_visit_on = (SELECT max(visited_on) FROM customer_visits v WHERE v.customer_id = customers.id)"
        " WHERE last_visit_on IS NOT (SELECT max(visited_on) FROM customer_visits v WHERE v.customer_id = customers.id)")
    return len(rows)


# -- tasks and their progress notes ---------------------------------------------------------------
# (department, title, requirement, priority, [(subtask title, requirement)]): the operations
# manager assigns each to the department's head, who breaks it down for their staff.
TASKS = [
    ("市场推广组", "策划元旦新春促销活动", "制定活动方案、预算与物料清单，报运营经理审定后执行。", "高",
     [("元旦活动方案与预算编制", "含线上线下渠道、投放预算与预期效果"), ("活动物料清单与供应商询价", "至少比较三家供应商报价"),
      ("新春直播带货排期", "与渠道伙伴确认直播时间与商品")]),
    ("数据分析组", "编制四季度客户流失分析报告", "按客户层级分析流失原因，提出挽留建议。", "中",
     [("整理高风险客户名单", "按最近购买与回访情况筛选"), ("流失原因问卷统计", "汇总回访记录中的客户反馈")]),
    ("合作伙伴管理组", "完成合作伙伴年度评估", "组织全部合作伙伴的年度评估，形成奖优汰劣名单。", "高",
     [("收集各业务组评分", "每家合作伙伴至少两个业务组评分"), ("到期协议续签梳理", "列出 60 天内到期的合作协议")]),
    ("产品运营组", "会员小程序改版需求梳理", "收集用户反馈，输出改版需求清单与优先级。", "中",
     [("用户访谈与需求整理", "访谈不少于 10 位会员")]),
    ("内容与媒体组", "年终品牌宣传内容排期", "完成十二月至次年一月的公众号与短视频排期。", "低",
     [("年终回顾短视频脚本", "3 分钟以内，突出客户故事")]),
]
# Tasks the operations manager gives her own group (客户运营组) directly.
OWN_GROUP_TASKS = [
    ("重要客户季度回访", "完成名下重要客户的季度回访并更新回访记录。", "高"),
    ("整理客户投诉处理台账", "核对本季度投诉的处理时限与回复情况。", "中"),
    ("更新客服话术手册", "结合近期投诉补充常见问题答复。", "中"),
    ("会员积分到期提醒", "向积分即将到期的会员发送提醒短信。", "低"),
    ("高风险客户挽留方案", "针对流失风险为高的客户提出挽留措施。", "高"),
    ("客户满意度电话调查", "抽样 50 位客户进行满意度调查并汇总。", "中"),
]
# The state each task ends in, in turn; "返工" is returned once, then submitted again and accepted.
TASK_ENDS = ["进行中", "已完成", "待验收", "进行中", "已退回", "待接收", "已完成", "返工", "进行中", "已取消", "已完成", "进行中"]
UPDATE_NOTES = ["已完成资料收集，正在整理初稿", "完成约一半，部分数据需要其他组配合提供", "初稿已完成，正在内部审阅",
                "按反馈修改完毕，准备提交", "已联系相关同事确认细节"]
PROBLEMS = ["部分客户电话无人接听，需改期回访", "供应商报价尚未全部返回", "数据口径与财务部不一致，待确认", None, None]
RETURN_REASONS = ["内容不完整，请补充数据来源与结论", "预算明细缺少依据，请补充报价单"]


def tasks(steps: Steps, rng: random.Random, today: datetime.date) -> tuple[int, int]:
    cast = steps.cast
    manager, employee, editor = cast.account["manager"], cast.account["employee"], cast.account["editor"]
    plans = []   # (assigner, assignee, title, requirement, priority, parent key)
    for dept, title, requirement, priority, subtasks in TASKS:
        head = cast.heads[dept]
        plans.append((manager, head, title, requirement, priority, None))
        staff = cast.members(dept)
        for k, (sub, detail) in enumerate(subtasks):
            plans.append((head, staff[k % len(staff)], sub, detail, priority, title))
    group = [employee, editor] + cast.others("客户运营组")
    for k, (title, requirement, priority) in enumerate(OWN_GROUP_TASKS):
        plans.append((manager, group[k % 4], title, requirement, priority, None))
    ids, task_count, update_count = {}, 0, 0
    for n, (assigner, assignee, title, requirement, priority, parent) in enumerate(plans):
        end = "进行中" if parent is None and assignee.id == cast.heads.get(assignee.dept, assignee).id else TASK_ENDS[n % len(TASK_ENDS)]
        if assignee.id == employee.id and n % 2 == 0:
            end = "进行中"   # the demo employee has work under way, one of it overdue
        starts = today - _d(rng.randint(10, 40))
        overdue = end in ("进行中", "待接收") and n % 3 == 0
        due = today - _d(rng.randint(2, 6)) if overdue else today + _d(rng.randint(3, 30))
        if end in ("已完成", "待验收", "已退回", "返工"):   # submitted: its notes all lie in the past
            starts = today - _d(rng.randint(25, 40))
            due = starts + _d(rng.randint(8, 15))
        task_id = steps.insert(assigner, "tasks", dict(
            title=title, requirement=requirement, assigned_by_id=assigner.id,
            department_id=_department_id(steps.conn, assignee.dept), assignee_id=assignee.id, parent_id=ids.get(parent), priority=priority, starts_on=starts.isoformat(),
            due_on=due.isoformat(), status="待接收"))
        ids.setdefault(title, task_id)
        task_count += 1
        if end == "待接收":
            continue
        if end == "已取消":
            steps.move(assigner, "tasks", task_id, "已取消", "客户需求变更，本任务不再执行")
            continue
        steps.move(assignee, "tasks", task_id, "进行中")
        update_count += _progress(steps, rng, task_id, assignee, starts, today - _d(1) if end == "进行中" else due)
        if end == "进行中":
            continue
        steps.move(assignee, "tasks", task_id, "待验收")
        if end in ("已退回", "返工"):
            steps.move(assigner, "tasks", task_id, "已退回", RETURN_REASONS[n % 2])
            if end == "已退回":
                continue
            update_count += _progress(steps, rng, task_id, assignee, due, due + _d(3), final=True)
            steps.move(assignee, "tasks", task_id, "待验收")
        if end in ("已完成", "返工"):
            steps.move(assigner, "tasks", task_id, "已完成")
    return task_count, update_count


def _progress(steps: Steps, rng, task_id: int, reporter: Person, since: datetime.date, until: datetime.date,
              final: bool = False) -> int:
    """One to three progress notes by the task's assignee between two days."""
    span = max(1, (until - since).days)
    count = 1 if final else rng.randint(1, 3)
    days = sorted(rng.sample(range(1, span + 1), min(count, span)))
    for k, offset in enumerate(days):
        day = min(since + _d(offset), until)
        progress = 100 if final else round(100 * (k + 1) / (len(days) + 1))
        steps.insert(reporter, "task_updates", dict(
            task_id=task_id, reported_at=_at(day, rng.randint(*OFFICE_HOURS), rng.choice([0, 15, 30, 45])),
            reporter_id=reporter.id, progress=progress,
            content="已按退回意见补充完毕，重新提交" if final else UPDATE_NOTES[(k + task_id) % len(UPDATE_NOTES)],
            problems=None if final else rng.choice(PROBLEMS)))
    return len(days)


# -- leave requests ------------------------------------------------------------------------------
# (who, kind, starts in days from today, days, reason, end state); who: an account role or a
# department whose first member applies.
LEAVE = [
    ("employee", "年假", -20, 2, "回老家探亲", "已批准"),
    ("employee", "事假", 5, 1, "办理房产过户手续", "已提交"),
    ("editor", "病假", -8, 1, "感冒发烧，附医院证明", "已批准"),
    ("editor", "年假", 12, 5, "年假出游（已安排同事代为回访客户）", "部门已审核"),
    ("analyst", "调休", 3, 0.5, "周末加班调休半天", "已提交"),
    ("客户运营组", "事假", 2, 1, "孩子学校家长会", "已提交"),
    ("客户运营组", "年假", -35, 5, "年假", "已批准"),
    ("市场推广组", "婚假", 20, 10, "结婚", "部门已审核"),
    ("市场推广组", "事假", -3, 2, "家中有事", "已驳回"),
    ("产品运营组", "病假", -15, 3, "腰伤复查", "已批准"),
    ("数据分析组", "年假", 9, 3, "年假", "已退回"),
    ("财务部", "事假", 6, 1, "陪同家人就医", "草稿"),
    ("合作伙伴管理组", "调休", -1, 1, "出差返程调休", "返工"),
    ("office", "年假", 15, 2, "年假", "已提交"),
]


def leave_requests(steps: Steps, rng: random.Random, today: datetime.date) -> int:
    cast = steps.cast
    leader = cast.account["leader"]
    for who, kind, offset, days, reason, end in LEAVE:
        applicant = cast.account[who] if who in cast.account else cast.others(who)[1]
        head = cast.head_for(applicant)
        starts = today + _d(offset)
        ends = starts + _d(max(1, round(days + 0.49)) - 1)
        row_id = steps.insert(applicant, "leave_requests", dict(
            applicant_id=applicant.id, department_id=_department_id(steps.conn, applicant.dept), kind=kind,
            starts_on=starts.isoformat(), ends_on=ends.isoformat(), days=float(days), reason=reason,
            handover=rng.choice([None, "工作由同组同事代为处理", "紧急事项电话联系"]),
            status="草稿" if end in ("草稿", "返工") else "已提交"))
        if end == "草稿":
            continue
        if end == "返工":   # returned for a handover plan, filled in and submitted again
            steps.move(applicant, "leave_requests", row_id, "已提交")
            steps.move(head, "leave_requests", row_id, "已退回", "请写明工作交接安排")
            steps.edit(applicant, "leave_requests", row_id, handover="客户回访由同组同事代为跟进")
            steps.move(applicant, "leave_requests", row_id, "已提交")
            end = "已批准"
        if end == "已提交":
            continue
        if end == "已退回":
            steps.move(head, "leave_requests", row_id, "已退回", "月底报表截止，请改期或缩短假期")
            continue
        if end == "已驳回":
            steps.move(head, "leave_requests", row_id, "已驳回", "请假当天有重要客户活动，无法安排替岗")
            continue
        steps.move(head, "leave_requests", row_id, "已批准" if days <= 3 else "部门已审核")
        if days > 3 and end == "已批准":
            steps.move(leader, "leave_requests", row_id, "已批准")
    return len(LEAVE)


def _department_id(conn, name: str) -> int:
    return conn.execute("SELECT id FROM departments WHERE name = ?", [name]).fetchone()[0]


# -- expense claims ------------------------------------------------------------------------------
# (who, category, amount, incurred days ago, invoices, description, end state)
CLAIMS = [
    ("employee", "交通费", 86.5, 6, 3, "客户回访打车费", "已支付"),
    ("employee", "办公费", 239.0, 2, 1, "客服耳机与键盘", "已提交"),
    ("editor", "招待费", 1280.0, 12, 2, "重要客户答谢午餐", "财务已审核"),
    ("editor", "差旅费", 3650.0, 20, 6, "杭州客户拜访差旅（高铁、住宿两晚）", "已批准"),
    ("市场推广组", "推广费", 18600.0, 15, 1, "双十一线上广告投放", "财务已审核"),
    ("市场推广组", "推广费", 8800.0, 30, 2, "户外广告牌制作与安装", "已支付"),
    ("客户运营组", "交通费", 152.0, 4, 4, "客户上门回访交通费", "部门已审核"),
    ("数据分析组", "培训费", 2400.0, 25, 1, "数据分析与可视化实战课程", "已支付"),
    ("产品运营组", "差旅费", 2130.0, 9, 5, "成都用户访谈差旅", "已退回"),
    ("合作伙伴管理组", "招待费", 960.0, 7, 1, "渠道伙伴洽谈工作餐", "已驳回"),
    ("内容与媒体组", "办公费", 420.0, 1, 2, "拍摄道具采购", "草稿"),
    ("analyst", "办公费", 99.0, 3, 1, "数据分析书籍", "已提交"),
]
RETURNED = {"已退回": "发票抬头与公司名称不符，请重新开具后提交", "已驳回": "招待标准超出规定，且未事先报批"}


def expense_claims(steps: Steps, rng: random.Random, today: datetime.date) -> int:
    cast = steps.cast
    finance, leader = cast.account["finance"], cast.account["leader"]
    order = ["已提交", "部门已审核", "财务已审核", "已批准", "已支付"]
    for n, (who, category, amount, ago, invoices, description, end) in enumerate(CLAIMS, 1):
        applicant = cast.account[who] if who in cast.account else cast.others(who)[0]
        incurred = today - _d(ago)
        row_id = steps.insert(applicant, "expense_claims", dict(
            claim_no=f"BX-{incurred:%Y%m}-{n:03d}", applicant_id=applicant.id,
            department_id=_department_id(steps.conn, applicant.dept), category=category, amount=amount,
            incurred_on=incurred.isoformat(), invoice_count=invoices, description=description,
            status="草稿" if end == "草稿" else "已提交"))
        if end == "已驳回":
            steps.move(cast.head_for(applicant), "expense_claims", row_id, "已驳回", RETURNED[end])
            continue
        if end == "已退回":
            steps.move(cast.head_for(applicant), "expense_claims", row_id, "部门已审核")
            steps.move(finance, "expense_claims", row_id, "已退回", RETURNED[end])
            continue
        if end == "草稿":
            continue
        reached = order.index(end)
        approver = leader
        for state, person in zip(order[1:reached + 1], [cast.head_for(applicant), finance, approver, finance]):
            steps.move(person, "expense_claims", row_id, state)
    return len(CLAIMS)


# -- customer feedback ---------------------------------------------------------------------------
# (kind, channel, subject, content, end state, hours to reply, received days ago)
FEEDBACK = [
    ("投诉", "电话", "配送延迟三天未送达", "客户反映订单已付款五天仍未收到货，物流信息停滞。", "处理中", 24, 3),
    ("投诉", "在线客服", "收到的礼盒包装破损", "礼盒外包装压坏，客户要求换货。", "已分派", 24, 2),
    ("咨询", "电话", "会员积分如何兑换", "客户询问积分兑换规则与有效期。", "已关闭", 48, 20),
    ("建议", "邮件", "希望增加周末配送时段", "企业客户建议增加周六上午配送。", "已回访", 48, 18),
    ("投诉", "现场", "门店店员服务态度差", "客户到店退换货时被店员推诿。", "已解决", 24, 9),
    ("表扬", "社交媒体", "客服小周耐心解答", "客户在公众号留言表扬客服专员。", "已关闭", 48, 14),
    ("投诉", "电话", "发票开具错误", "发票抬头错误，客户要求重开。", "已回复", 24, 4),
    ("咨询", "在线客服", "新品上市时间", "客户询问春季新品何时上市。", "已登记", 48, 0),
    ("投诉", "电话", "重复扣款", "客户称同一订单被扣款两次。", "返工", 24, 6),
    ("建议", "在线客服", "小程序下单流程繁琐", "客户建议简化小程序下单步骤。", "处理中", 72, 1),
    ("投诉", "邮件", "退款迟迟未到账", "退货已签收一周，退款仍未到账。", "已分派", 24, 5),
    ("咨询", "电话", "企业采购报价", "企业客户询问年底集中采购的批量报价。", "已登记", 24, 1),
]
RESOLUTIONS = ["已联系物流加急处理并补偿优惠券", "已安排换货并致歉", "已向客户说明规则", "已重新开具发票并快递寄出",
               "已转产品运营组评估", "已核实并退回重复扣款"]


def customer_feedback(steps: Steps, rng: random.Random, today: datetime.date) -> int:
    cast = steps.cast
    manager, editor, employee = cast.account["manager"], cast.account["editor"], cast.account["employee"]
    handlers = [employee, editor] + cast.others("客户运营组")[:3]
    customers = [c for (c,) in steps.conn.execute("SELECT id FROM customers ORDER BY id LIMIT 60")]
    dept = _department_id(steps.conn, "客户运营组")
    for n, (kind, channel, subject, content, end, hours, ago) in enumerate(FEEDBACK, 1):
        received = datetime.datetime.combine(today - _d(ago), datetime.time(rng.randint(9, 16), rng.choice([0, 20, 40])))
        reply_due = received + datetime.timedelta(hours=hours)
        handler = None if end == "已登记" else handlers[n % len(handlers)]
        row_id = steps.insert(editor if n % 3 else manager, "customer_feedback", dict(
            feedback_no=f"FK-{received:%Y%m%d}-{n:02d}", received_at=received.strftime("%Y-%m-%d %H:%M"),
            customer_id=rng.choice(customers), contact=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}", channel=channel,
            kind=kind, subject=subject, content=content, department_id=dept, handler_id=handler and handler.id,
            reply_due_at=reply_due.strftime("%Y-%m-%d %H:%M"), status="已登记"))
        if handler is None:
            continue
        steps.move(manager, "customer_feedback", row_id, "已分派")
        if end == "已分派":
            continue
        steps.move(handler, "customer_feedback", row_id, "处理中")
        if end == "处理中":
            continue
        replied = min(reply_due - datetime.timedelta(hours=2), datetime.datetime.combine(today, datetime.time(9)))
        steps.edit(handler, "customer_feedback", row_id, replied_at=replied.strftime("%Y-%m-%d %H:%M"),
                   resolution=RESOLUTIONS[n % len(RESOLUTIONS)])
        steps.move(handler, "customer_feedback", row_id, "已回复")
        if end == "返工":   # the customer says it is not solved: back to work, replied again
            steps.move(manager, "customer_feedback", row_id, "处理中", "客户回电表示问题仍未解决，请重新核实")
            steps.edit(handler, "customer_feedback", row_id, resolution="已与银行核实，重复扣款已原路退回")
            steps.move(handler, "customer_feedback", row_id, "已回复")
            end = "已解决"
        if end == "已回复":
            continue
        steps.edit(handler, "customer_feedback", row_id, satisfaction=rng.choice([4, 5, 5, 3]))
        steps.move(handler, "customer_feedback", row_id, "已解决")
        if end == "已解决":
            continue
        steps.move(editor, "customer_feedback", row_id, "已回访")
        if end == "已关闭":
            steps.move(manager, "customer_feedback", row_id, "已关闭")
    return len(FEEDBACK)


# -- partner rectifications ----------------------------------------------------------------------
ISSUES = ["交付及时性不达标", "客户投诉率偏高", "服务响应超时", "资料报送不完整", "价格执行不符合协议约定"]
ACTIONS = ["30 日内提交整改方案并落实，按周报告进展", "指定专人对接，投诉须 24 小时内响应", "补齐资质与合作资料"]
RECTIFICATION_ENDS = ["整改中", "待整改", "已通过", "待复查", "整改中", "已通过", "待整改"]


def rectifications(steps: Steps, rng: random.Random, today: datetime.date) -> int:
    """From the latest evaluations that asked for rectification; the partner failing two quarters
    running ends in 已终止合作 (which stops the partner's cooperation)."""
    cast = steps.cast
    manager, editor, leader = cast.account["manager"], cast.account["editor"], cast.account["leader"]
    people = {p.id: p for p in cast.people}
    found = steps.conn.execute("""
        SELECT e.id, e.partner_id, e.evaluated_on, e.total_score, e.decision, p.owner_id FROM partner_evaluations e
        JOIN partners p ON p.id = e.partner_id
        WHERE e.decision IN ('限期整改', '终止合作') AND p.status = '合作中'
          AND e.period = (SELECT max(period) FROM partner_evaluations)
        ORDER BY e.decision = '终止合作' DESC, e.id""").fetchall()
    plans = [(row, "已终止合作" if row[4] == "终止合作" else RECTIFICATION_ENDS[k % len(RECTIFICATION_ENDS)])
             for k, row in enumerate(found[:8])]
    for n, ((evaluation, partner, evaluated, score, _, owner_id), end) in enumerate(plans):
        owner = people[owner_id]
        issued = datetime.date.fromisoformat(evaluated) + _d(rng.randint(1, 5))
        deadline = max(issued + _d(45), today + _d(10))
        if end in ("待整改", "整改中") and n % 2 == 0:   # past its deadline, still not done
            deadline = max(issued + _d(7), today - _d(2))
        row_id = steps.insert(editor if n % 2 else manager, "rectifications", dict(
            partner_id=partner, evaluation_id=evaluation, issue=f"{ISSUES[n % len(ISSUES)]}（综合得分 {score:g}）",
            required_action=ACTIONS[n % len(ACTIONS)], issued_on=issued.isoformat(),
            deadline=deadline.isoformat(), owner_id=owner_id, status="待整改"))
        if end == "待整改":
            continue
        steps.move(owner, "rectifications", row_id, "整改中")
        if end == "整改中":
            continue
        steps.edit(owner, "rectifications", row_id, result="已提交整改报告，交付周期缩短至 3 天")
        steps.move(owner, "rectifications", row_id, "待复查")
        if end == "待复查":
            continue
        if end == "已终止合作":
            steps.move(manager, "rectifications", row_id, "整改中", "复查发现交付仍多次延迟，继续整改")
            steps.move(owner, "rectifications", row_id, "待复查")
            steps.move(leader, "rectifications", row_id, "已终止合作", "连续两个季度评估不合格，整改复查仍未达标，终止合作")
            # The on_transition trigger ends the partner's cooperation; the same here for files
            # made before it (a no-op when the trigger did it).
            with audit.audited(steps.conn, cast.who(leader, note="整改不通过，终止合作"), steps.key):
                steps.conn.execute("UPDATE partners SET status = '已终止' WHERE id = ? AND status IS NOT '已终止'", [partner])
            continue
        steps.move(manager, "rectifications", row_id, "已通过")
    return len(plans)


# -- work plans and reports -----------------------------------------------------------------------
PLAN_GOALS = ["完成季度重点工作目标，关键指标达成率不低于 95%", "优化工作流程，提高响应速度", "配合年度预算编制与执行",
              "加强团队培训与经验分享"]
PLAN_MEASURES = ["每周例会跟进进度，责任落实到人", "按月复盘，问题清单限期关闭", "与相关部门建立对接机制"]


def _month(today: datetime.date, shift: int) -> str:
    year, month = divmod(today.year * 12 + today.month - 1 + shift, 12)
    return f"{year}-{month + 1:02d}"


def work_plans(steps: Steps, rng: random.Random, today: datetime.date) -> int:
    """Each department's monthly plan, set up by the operations manager for its head: the last
    two months done, this month's approved (two departments have none: the cadence report's
    missing items), next month's drafted or submitted."""
    cast = steps.cast
    manager, leader = cast.account["manager"], cast.account["leader"]
    count = 0
    for k, (dept, head) in enumerate(sorted(cast.heads.items())):
        for shift in (-2, -1, 0, 1):
            if shift == 0 and k in (3, 7):
                continue
            row_id = steps.insert(manager, "work_plans", dict(
                department_id=_department_id(steps.conn, dept), period=_month(today, shift),
                title=f"{dept}{_month(today, shift).replace('-', '年', 1)}月工作计划", goals=rng.choice(PLAN_GOALS),
                measures=rng.choice(PLAN_MEASURES), kpi_targets="客户满意度 ≥ 90%；任务按期完成率 ≥ 95%",
                owner_id=head.id, status="草稿"))
            count += 1
            if shift == 1 and k % 3:
                continue   # next month's, still a draft
            steps.move(head, "work_plans", row_id, "已提交")
            if shift == 1 and k == 3:
                steps.move(manager, "work_plans", row_id, "已退回", "下月目标与年度计划不一致，请调整")
            if shift == 1:
                continue   # waits for the manager's approval, or for the head's changes
            if shift == 0 and k == 1:   # sent back once, improved and approved
                steps.move(manager, "work_plans", row_id, "已退回", "考核指标需量化，请补充")
                steps.edit(head, "work_plans", row_id, kpi_targets="客户满意度 ≥ 92%；投诉 24 小时内回复率 100%")
                steps.move(head, "work_plans", row_id, "已提交")
            steps.move(leader if head.id == manager.id else manager, "work_plans", row_id, "已批准")
            if shift < 0:
                steps.move(head, "work_plans", row_id, "已完成")
    return count


REPORT_PROGRESS = ["完成本周客户回访 12 户，处理投诉 3 起", "跟进重点客户续约，完成报价方案", "整理会员积分到期名单并发送提醒",
                   "配合市场推广组完成活动客户邀约"]
REPORT_PROBLEMS = ["部分客户联系不上，已改为短信提醒", "系统导出数据格式不统一，已反馈数据分析组", None]


def work_reports(steps: Steps, rng: random.Random, today: datetime.date) -> int:
    """Weekly reports of 客户运营组's staff for the last three weeks, read by their head (the
    newest still waiting; some people missed a week: the cadence report's missing items), and
    last month's department reports of the heads under 运营部."""
    cast = steps.cast
    monday = today - _d(today.weekday())
    count = 0
    for n, person in enumerate(cast.members("客户运营组")):
        head = cast.head_for(person)
        for week in (3, 2, 1, 0):
            if (n + week) % 5 == 0 or (week == 0 and n % 4):
                continue   # not handed in (this week's: only a few have started one)
            start = monday - _d(7 * week)
            row_id = steps.insert(person, "work_reports", dict(
                reporter_id=person.id, kind="周报", period_start=start.isoformat(),
                title=f"{person.name} {start:%m月%d日}当周周报", progress=REPORT_PROGRESS[(n + week) % len(REPORT_PROGRESS)],
                results="按计划完成", problems=rng.choice(REPORT_PROBLEMS), next_plan="继续跟进重点客户回访",
                status="草稿" if week == 0 else "已提交"))
            count += 1
            if week == 1 and n == 1:
                steps.move(head, "work_reports", row_id, "已退回", "问题描述不具体，请补充原因和解决方案")
            if week <= 1:
                continue   # a draft, or waiting for the head
            if n == 2 and week == 2:
                steps.move(head, "work_reports", row_id, "已退回", "请补充具体数据和下周计划")
                steps.edit(person, "work_reports", row_id, next_plan="下周完成 15 户重要客户回访，整理投诉原因分析")
                steps.move(person, "work_reports", row_id, "已提交")
            steps.move(head, "work_reports", row_id, "已阅")
    first = datetime.date.fromisoformat(_month(today, -1) + "-01")
    for dept, head in sorted(cast.heads.items()):
        if cast.parent.get(dept) != "运营部":
            continue
        row_id = steps.insert(head, "work_reports", dict(
            reporter_id=head.id, kind="部门工作报告", period_start=first.isoformat(),
            title=f"{dept}{first:%Y年%m月}工作报告", progress="本月重点工作按计划推进", results="主要指标达成",
            problems="人手紧张，已申请增补", next_plan="按下月工作计划执行", status="已提交"))
        count += 1
        steps.move(cast.head_for(head), "work_reports", row_id, "已阅")
    return count


# -- customer receptions (no workflow: written as the receptionist) -------------------------------
RECEPTIONS = [
    ("电话", "咨询会员卡余额查询方法", True, None, "已回复"),
    ("现场", "要求开具上月购物发票", False, "editor", "已回复"),
    ("电话", "投诉配送员态度恶劣", False, "manager", "已转为反馈"),
    ("电话", "询问企业团购折扣", False, "editor", "已转接"),
    ("现场", "退换货流程咨询", True, None, "已回复"),
    ("电话", "积分兑换礼品未到货", False, "employee", "已转接"),
    ("电话", "新店开业时间", True, None, "已回复"),
    ("现场", "商品质量问题要求退款", False, "employee", "已记录"),
]


def customer_receptions(steps: Steps, rng: random.Random, today: datetime.date) -> int:
    """Calls and visits at the front desk: most answered on the spot, some transferred and replied
    to, two transferred today and not yet replied (past their 30 minutes), one that became feedback."""
    cast = steps.cast
    desk = cast.others("客户运营组")[3:5]
    feedback = steps.conn.execute("SELECT id FROM customer_feedback ORDER BY id LIMIT 1").fetchone()
    for n, (channel, request, on_spot, to, status) in enumerate(RECEPTIONS):
        received = datetime.datetime.combine(today - _d(max(0, 3 - n // 2)), datetime.time(9 + n, 10 * (n % 4)))
        receptionist = desk[n % len(desk)]
        replied = None if status in ("已转接", "已记录") or on_spot else received + datetime.timedelta(minutes=rng.randint(10, 25))
        steps.insert(receptionist, "customer_receptions", dict(
            received_at=received.strftime("%Y-%m-%d %H:%M"), channel=channel, caller_name=_person_name(rng),
            phone=f"1{rng.choice('3589')}{rng.randrange(10**9):09d}", request=request,
            expected_solution=None if on_spot else "尽快回电告知处理结果", answered_on_spot=int(on_spot),
            receptionist_id=receptionist.id, transferred_to_id=cast.account[to].id if to else None,
            replied_at=replied and replied.strftime("%Y-%m-%d %H:%M"),
            reply="已电话告知处理方式" if replied else None, status=status,
            feedback_id=feedback[0] if status == "已转为反馈" and feedback else None))
    return len(RECEPTIONS)


def _person_name(rng) -> str:
    return rng.choice("王李张刘陈杨黄赵吴周") + rng.choice(["先生", "女士"])


# -- performance appraisals and improvement plans -------------------------------------------------
# Last month's appraisals of 客户运营组 and 数据分析组 (their heads included), each ending in the
# state given, with the superior's score it gets (0: not scored yet); the month before, 客户运营组's
# staff, all confirmed. Confirmed 不合格 ones get an improvement plan, but for one (the report of
# 不合格 appraisals without a plan lists it); some people have none last month (the cadence report).
# "返工": returned once for a better self-assessment; "退回重评": sent back by the manager to the
# head for another look; "申诉维持" / "申诉重评": appealed, kept, or scored again.
APPRAISAL_ENDS = [("已确认", 86), ("已确认", 52), ("待确认", 78), ("待上级评分", 0), ("已确认", 93), ("返工", 74),
                  ("已退回", 0), ("已确认", 55), ("申诉中", 68), ("申诉维持", 61), ("已确认", 49), ("退回重评", 80),
                  ("申诉重评", 58), ("已确认", 71)]
EARLIER_LEVELS = [82, 90, 54, 77, 68, 47, 88, 79, 57, 72, 95, 66]
ACHIEVEMENTS = ["完成名下客户月度回访，处理投诉按时回复", "完成两项数据分析报告，按时交付", "配合完成月度营销活动的客户邀约",
                "整理客户分层名单，更新客户档案", "承担新人带教，协助完成季度回访计划"]
SELF_COMMENTS = ["本月按计划完成各项工作，沟通协作顺畅", "工作积极主动，但部分任务交付偏晚", "业务知识有提升，需加强数据分析能力"]
SUPERIOR_COMMENTS = {"优秀": "业绩突出，主动承担额外工作，值得表扬。", "良好": "工作认真负责，完成质量较好。",
                     "合格": "基本完成本月任务，效率有待提高。", "不合格": "多项任务未按时完成，客户投诉较多，需制定改进计划。"}
IMPROVEMENT_GOALS = ["三个月内客户投诉按时回复率达到 100%", "月度任务按期完成率不低于 95%", "客户回访量每月不少于 30 户"]
IMPROVEMENT_MEASURES = ["每周与部门负责人面谈一次，复盘未完成事项；参加客户投诉处理培训", "由资深同事结对带教，任务每日报进度",
                 "参加沟通技巧与时间管理培训，按周制定回访计划"]


def _appraise(steps: Steps, rng: random.Random, person: Person, head: Person, confirmer: Person, period: str,
              end: str, level: int) -> int:
    """One appraisal, from 待自评 to `end`, each step by its person: the head opens it, the
    employee assesses themself, the head scores, the manager (the leader for the manager's own) confirms."""
    table = "appraisals"
    row_id = steps.insert(head, table, dict(employee_id=person.id, period=period, status="待自评"))
    if end == "待自评":
        return row_id
    steps.edit(person, table, row_id, self_score=float(min(100, (level or 75) + rng.randint(0, 8))),
               achievements=rng.choice(ACHIEVEMENTS), self_comment=rng.choice(SELF_COMMENTS))
    steps.move(person, table, row_id, "待上级评分")
    if end in ("已退回", "返工"):
        steps.move(head, table, row_id, "已退回", "自我评价过于简单，请补充本月工作业绩和数据")
        if end == "已退回":
            return row_id
        steps.edit(person, table, row_id, achievements="完成名下 32 户客户回访，投诉 5 起均在 24 小时内回复")
        steps.move(person, table, row_id, "待上级评分")
    if end == "待上级评分":
        return row_id

    def score(superior: int) -> None:
        grade = "优秀" if superior >= 90 else "良好" if superior >= 75 else "合格" if superior >= 60 else "不合格"
        steps.edit(head, table, row_id, superior_score=float(superior),
                   peer_score=float(min(100, superior + rng.randint(-3, 3))) if rng.random() < 0.6 else None,
                   customer_score=float(min(100, superior + rng.randint(-3, 3))) if person.dept == "客户运营组" else None,
                   superior_comment=SUPERIOR_COMMENTS[grade])
        steps.move(head, table, row_id, "待确认")

    score(level)
    if end == "待确认":
        return row_id
    if end == "退回重评":
        steps.move(confirmer, table, row_id, "待上级评分", "评分与本月任务完成情况不符，请核实后重评")
        score(level - 4)
    steps.move(confirmer, table, row_id, "已确认")
    if end in ("申诉中", "申诉维持", "申诉重评"):
        steps.move(person, table, row_id, "申诉中", "本月承担的两项临时任务未计入工作业绩，申请复核")
        if end == "申诉维持":
            steps.move(confirmer, table, row_id, "已确认", "经核实，临时任务已计入工作业绩，维持原评")
        elif end == "申诉重评":
            steps.move(confirmer, table, row_id, "待上级评分", "临时任务确未计入，请重新评分")
            score(level + 6)
            steps.move(confirmer, table, row_id, "已确认")
    return row_id


def _improve(steps: Steps, rng: random.Random, appraisal: int, person: Person, head: Person, starts: datetime.date,
             today: datetime.date, end: str) -> None:
    """An improvement plan agreed by the head with the employee, from 草拟 to `end`."""
    table = "improvement_plans"
    k = rng.randrange(len(IMPROVEMENT_GOALS))
    deadline = starts + _d(45) if end in ("已达成", "未达成", "待评估") else max(starts + _d(7), today - _d(2)) \
        if end == "执行中" else today + _d(40)
    row_id = steps.insert(head, table, dict(
        appraisal_id=appraisal, employee_id=person.id, goal=IMPROVEMENT_GOALS[k], measures=IMPROVEMENT_MEASURES[k],
        support="部门负责人每周辅导一次", starts_on=starts.isoformat(), deadline=deadline.isoformat(), status="草拟"))
    if end == "草拟":
        return
    steps.move(person, table, row_id, "执行中")
    if end == "执行中":
        return
    steps.edit(person, table, row_id, result="投诉按时回复率提升至 98%，月度任务全部按期完成")
    steps.move(person, table, row_id, "待评估")
    if end == "已达成":
        steps.move(head, table, row_id, "已达成")
    elif end == "未达成":
        steps.move(head, table, row_id, "未达成", "回复率仍未达到目标，下月考核继续跟踪")


def appraisals(steps: Steps, rng: random.Random, today: datetime.date) -> tuple[int, int]:
    cast = steps.cast
    manager, leader, employee = cast.account["manager"], cast.account["leader"], cast.account["employee"]
    last, earlier = _month(today, -1), _month(today, -2)
    count, failing = 0, []   # failing: (appraisal id, person, head, month) of confirmed 不合格 ones
    grade = "SELECT grade, status FROM appraisals WHERE id = ?"

    def appraise(person: Person, period: str, end: str, level: int) -> None:
        nonlocal count
        head = cast.head_for(person)
        confirmer = leader if person.id == manager.id else manager
        row_id = _appraise(steps, rng, person, head, confirmer, period, end, level)
        count += 1
        if steps.conn.execute(grade, [row_id]).fetchone() == ("不合格", "已确认"):
            failing.append((row_id, person, head, period))

    for k, person in enumerate(cast.members("客户运营组")):
        appraise(person, earlier, "已确认", EARLIER_LEVELS[k % len(EARLIER_LEVELS)])
    people = [p for dept in ("客户运营组", "数据分析组") for p in (cast.heads[dept], *cast.members(dept))]
    for k, person in enumerate(people):
        if k % 8 == 7 and person.login is None:
            continue   # not appraised last month: the cadence report's missing items
        end, level = ("待自评", 0) if person.id == employee.id else APPRAISAL_ENDS[k % len(APPRAISAL_ENDS)]
        appraise(person, last, end, level)
    plans = 0
    ends = {earlier: ["待评估", "已达成", "未达成"], last: ["草拟", "执行中"]}
    for appraisal, person, head, period in failing:
        if not ends[period]:
            continue   # one 不合格 without a plan yet
        starts = datetime.date.fromisoformat(period + "-01") + _d(40)
        _improve(steps, rng, appraisal, person, head, min(starts, today), today, ends[period].pop(0))
        plans += 1
    return count, plans


def fill(conn, key: bytes, cast: Cast, today: datetime.date) -> dict[str, int]:
    """Every workflow register, step by step; returns rows inserted per register."""
    rng = random.Random(SEED)
    steps = Steps(conn, key, cast)
    counts = {}
    counts["tasks"], counts["task_updates"] = tasks(steps, rng, today)
    counts["leave_requests"] = leave_requests(steps, rng, today)
    counts["expense_claims"] = expense_claims(steps, rng, today)
    counts["customer_feedback"] = customer_feedback(steps, rng, today)
    counts["rectifications"] = rectifications(steps, rng, today)
    counts["work_plans"] = work_plans(steps, rng, today)
    counts["work_reports"] = work_reports(steps, rng, today)
    counts["customer_receptions"] = customer_receptions(steps, rng, today)
    counts["appraisals"], counts["improvement_plans"] = appraisals(steps, rng, today)
    return counts
