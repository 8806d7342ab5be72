"""Realistic, deterministic Chinese demo data for every register.

Every date is relative to `today`, so the reports (agreements about to expire, overdue actions,
customers due for a visit, partners failing two quarters running) always have rows to show.
One random.Random with a fixed seed drives everything: the same `today` gives the same rows.
"""

from __future__ import annotations

import datetime
import random

from taizhang import audit, clock, demo_processes, registers, search, xref
from taizhang.datadir import DataDir

SEED = 20240501

# Employees linked to the demo logins, created first so their 工号 are stable: role -> 00001...
# A position that is its department's leader's makes the login that department's head (the
# derived department_head role): demo-admin heads 运营部, demo-manager 客户运营组, demo-hr
# 行政人事部 and demo-leader 总经理办公室; the others are members.
ACCOUNT_EMPLOYEES = [
    ("admin", "王建国", "运营部", "运营总监"),
    ("manager", "李娜", "客户运营组", "客户运营经理"),
    ("hr", "刘洋", "行政人事部", "人事行政经理"),
    ("editor", "陈静", "客户运营组", "客户经理"),
    ("analyst", "杨帆", "数据分析组", "数据分析师"),
    ("viewer", "赵敏", "运营部", "运营助理"),
    ("employee", "周晓雯", "客户运营组", "客服专员"),
    ("finance", "孙丽华", "财务部", "会计"),
    ("leader", "郑国栋", "总经理办公室", "总经理"),
    ("office", "何佳琪", "行政人事部", "行政专员"),
]
DEMO_ACCOUNTS: dict[str, str] = {r[0]: f"{i:05d}" for i, r in enumerate(ACCOUNT_EMPLOYEES, 1)}

# (name, parent, leader's position, member positions, headcount); parents come first.
DEPARTMENTS = [
    ("总经理办公室", None, "总经理", ["总经理助理"], 2),
    ("运营部", "总经理办公室", "运营总监", ["运营助理"], 4),
    ("市场推广组", "运营部", "市场推广主管", ["市场专员", "活动策划", "新媒体运营"], 10),
    ("客户运营组", "运营部", "客户运营经理", ["客户经理", "客服专员", "客户成功专员"], 16),
    ("产品运营组", "运营部", "产品运营主管", ["产品运营专员", "用户研究员"], 8),
    ("数据分析组", "运营部", "数据分析主管", ["数据分析师", "BI 工程师"], 6),
    ("合作伙伴管理组", "运营部", "渠道合作主管", ["渠道专员", "商务专员"], 7),
    ("内容与媒体组", "市场推广组", "内容主编", ["文案策划", "视频编辑"], 6),
    ("行政人事部", "总经理办公室", "人事行政经理", ["人事专员", "行政专员", "招聘专员"], 7),
    ("培训发展组", "行政人事部", "培训主管", ["培训专员"], 4),
    ("财务部", "总经理办公室", "财务经理", ["会计", "出纳"], 4),
]
SURNAMES = ("王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 林 高 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 彭 曾 田 董"
            " 潘 袁 蔡 蒋 余 叶 程 苏 吕 丁 沈 姚 卢 钟 陆 汪 范 金 石 廖 夏 方 白 孟 秦 江 顾 毛 邵 钱 严 戴").split()
GIVEN = ("伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 浩然 子涵 欣怡 梓萱 思远 宇轩 雨桐 嘉怡"
         " 俊杰 晓东 海燕 志强 丽华 建华 文博 佳琪 一鸣 晨曦 若曦 天宇 梦琪 国栋 慧敏 振华 晓梅 立新 雪梅 婷婷 家豪").split()
# Two people with exactly the same name, and traditional-character names (imports from
# Hong Kong / Taiwan colleagues): search, imports and xrefs must cope with both.
SPECIAL_NAMES = ["张伟", "张伟", "陳嘉欣", "黃志明", "林詩涵"]

CITIES = {  # city -> (area code, districts)
    "北京": ("010", "朝阳区 海淀区 东城区 丰台区"), "上海": ("021", "浦东新区 徐汇区 静安区 闵行区"),
    "广州": ("020", "天河区 越秀区 海珠区"), "深圳": ("0755", "南山区 福田区 宝安区"),
    "杭州": ("0571", "西湖区 滨江区 拱墅区"), "成都": ("028", "武侯区 锦江区 高新区"),
    "南京": ("025", "鼓楼区 玄武区 建邺区"), "武汉": ("027", "江汉区 洪山区 武昌区"),
    "西安": ("029", "雁塔区 碑林区"), "苏州": ("0512", "姑苏区 工业园区"),
    "重庆": ("023", "渝中区 江北区"), "天津": ("022", "和平区 南开区"),
}
STREETS = "人民路 中山路 建设路 解放路 和平路 新华路 长江路 文化路 科技路 滨江大道 世纪大道 学府路".split()

# category -> (names, cooperation mode, projects); a partner's name is city + name (+ 有限公司).
PARTNERS = {
    "供应商": ("鑫源印务 华联包装 恒泰办公用品 佳禾礼品 绿源食品供应链 明辉电子 诚远纸业",
               "年度框架采购", "活动物料 会员礼品 门店包装 办公用品"),
    "渠道": ("星河电商 万家连锁 优选社区团购 蓝海分销 惠民便利连锁 云途跨境 乐购商城",
             "渠道分销、按月佣金结算", "线上旗舰店 社区团购 区域分销 跨境电商"),
    "媒体": ("城市晚报传媒 悦读新媒体 光影视频工作室 潮声广告 融媒文化 百川户外广告 新视界直播",
             "广告投放、内容联合推广", "节日营销 直播带货 户外广告 公众号软文"),
    "技术服务": ("云帆信息技术 数联科技 智慧云服 易达软件 安信网络安全 慧眼数据 极光短信平台",
                 "技术外包、按年订阅", "会员小程序 CRM 系统运维 短信通知 数据看板"),
    "物流": ("顺达物流 通衢快运 安迅仓储 速捷同城配送 长风冷链 鸿运货运 捷程供应链",
             "仓储配送外包", "仓储管理 同城配送 冷链运输 退货处理"),
    "其他": ("博文会展服务 金石律师事务所 德信会计师事务所 明德培训学校 正和人力资源 华信咨询 乐活公益基金会",
             "项目制合作", "展会服务 法律顾问 年度审计 员工培训 公益活动"),
}
# Cooperation history; the words 预算, 培训 and 客户 are what people search the notes for.
HISTORY = [
    "{y}年起合作，配合完成年度营销活动物料供应，交付及时。", "{y}年签订框架协议；今年因预算调整，合作量下降约两成。",
    "曾为我部开展两次产品培训，一线员工反馈良好。", "合作期间出现两次延迟交付，已约谈整改，列为重点评估对象。",
    "协助拓展华东区域客户，渠道销售额稳步增长。", "{y}年续签，新增直播合作，预算由市场推广组统一管理。",
    "重要客户活动的独家服务商，客户满意度高。", "合作稳定，无重大投诉。",
]
EVALUATION_COMMENTS = {
    "优秀": "业绩突出，响应迅速，建议扩大合作范围。", "良好": "整体表现良好，服务稳定。",
    "合格": "基本达标，交付及时性有待提高。", "不合格": "多项指标未达标，客户投诉较多，需整改。",
}

# (kind, topic, title, hours): the yearly training plan, run once a year.
COURSES = [
    ("入职培训", "规章制度", "新员工入职培训：公司制度与文化", 8),
    ("入职培训", "职业素养", "新员工职业素养与沟通礼仪", 4),
    ("内部培训", "客户运营", "客户分层与精细化运营", 3), ("内部培训", "客户运营", "客户回访话术与投诉处理", 2),
    ("内部培训", "产品运营", "新品上市运营流程", 3), ("内部培训", "市场推广", "节日营销活动策划实务", 4),
    ("内部培训", "规章制度", "保密制度与信息安全", 2), ("外部培训", "数据分析", "数据分析与可视化实战", 16),
    ("外部培训", "管理能力", "中层管理者领导力提升", 16), ("外部培训", "市场推广", "新媒体营销与直播运营", 12),
    ("在线学习", "数据分析", "Excel 数据透视与函数进阶", 6), ("在线学习", "职业素养", "时间管理与高效办公", 3),
    ("在线学习", "产品运营", "用户增长方法论", 5), ("专家讲座", "客户运营", "会员体系设计与客户生命周期", 2),
    ("专家讲座", "管理能力", "团队协作与跨部门沟通", 2), ("专家讲座", "市场推广", "消费趋势与品牌传播", 2),
    ("内部培训", "其他", "办公软件与台账系统使用", 2), ("外部培训", "管理能力", "项目管理实务（PMP 基础）", 24),
]
COST_RANGES = {"外部培训": (8000, 30000), "专家讲座": (3000, 8000), "在线学习": (500, 3000)}  # else (0, 800)
PROVIDERS = ["华夏管理学院", "新知企业培训中心", "明德培训学校", "数智商学院"]
FEEDBACK = ["内容实用，希望增加案例。", "讲师讲解清楚。", "时间偏紧，练习不够。", "对日常工作帮助很大。", None]

# (name, rank, criteria, min annual spend, policy, follow-up days, spend range)
TIERS = [
    ("重要客户", 1, "年消费 5 万元以上或战略合作企业", 50000.0,
     "专属客户经理，每月回访，节日礼遇与新品优先体验", 30, (50000, 600000)),
    ("普通客户", 2, "近一年有购买、年消费 5 千至 5 万元", 5000.0, "季度回访，会员积分与定向优惠券", 90, (5000, 50000)),
    ("潜在客户", 3, "已留资或咨询但消费较少", 0.0, "半年回访，内容营销与首单优惠培育", 180, (0, 5000)),
]
SOURCES = "门店 官网 小程序 展会 老客户推荐 渠道合作 电话营销 直播间".split()
PREFERENCES = ("偏好线上下单 关注新品 对价格敏感 喜欢参加会员活动 重视售后服务 常购礼盒 批量采购 偏好周末到店"
               " 关注环保包装").split()
INDUSTRIES = "贸易 科技 餐饮管理 文化传媒 建材 医疗器械 教育咨询 物业管理 电子商务 食品".split()
BRAND_CHARS = "华 鼎 恒 瑞 兴 盛 嘉 博 远 凯 宏 泰 安 信 达 德".split()

SCOPE = {
    "员工": "经营数据、客户资料、合作伙伴协议及公司未公开的商业计划",
    "合作伙伴": "合作过程中知悉的客户信息、价格政策、营销方案与技术资料",
    "客户": "双方合作方案、报价与项目资料",
    "其他": "工作中接触的公司内部资料与客户信息",
}
LIABILITY = "违约方应赔偿由此造成的全部损失，并支付违约金人民币{n}万元；情节严重的依法追究法律责任。"
OTHER_PARTIES = ["外聘讲师 周立群", "德信会计师事务所（年度审计组）", "实习生 马晓雯", "正和人力资源（外包客服团队）"]

# Meetings: (kind, title) of the ad-hoc ones, each held twice; regular ones are generated.
SPECIAL_MEETINGS = [
    ("专项会议", "双十一大促筹备专项会"), ("专项会议", "客户流失预警专项会议"), ("专项会议", "年度培训预算评审会"),
    ("项目沟通会", "会员小程序改版项目沟通会"), ("项目沟通会", "台账系统上线项目沟通会"),
    ("项目沟通会", "华东渠道拓展项目沟通会"), ("跨部门协调会", "客户投诉处理跨部门协调会"),
    ("跨部门协调会", "市场与财务预算协调会"), ("跨部门协调会", "新员工培训安排协调会"),
]
AGENDA = ["上期决议执行情况", "客户运营数据通报", "预算执行情况", "培训安排", "合作伙伴评估结果",
          "重点活动筹备进度", "问题与协调事项", "下阶段工作安排"]
POINTS = [
    "本期新增客户 {n} 户，重要客户回访完成率 {p}%。", "市场推广组汇报活动筹备进度，预算执行率 {p}%。",
    "培训发展组通报培训计划，新员工入职培训已排期。", "合作伙伴管理组反馈 {k} 家供应商交付延迟，需限期整改。",
    "数据分析组更新客户流失预警名单，高风险客户 {n} 户。", "讨论下季度预算分配，线上渠道投放占比拟提高。",
    "客户投诉 {k} 起，均已在 48 小时内处理完毕。", "强调保密制度，客户资料不得外传。",
]
ACTIONS = ["整理重要客户回访名单并完成回访", "提交下季度市场推广预算方案", "完成新员工培训课件更新",
           "跟进供应商整改并提交评估报告", "更新客户流失预警名单", "组织合作伙伴季度评估", "编制月度运营数据报表",
           "完善会员积分规则方案", "核对培训费用报销", "梳理到期合作协议并启动续签", "优化客服话术手册"]
# Given to the demo manager and editor, already overdue, so their logins show something to do.
ACCOUNT_ACTIONS = ["跟进高风险客户回访并反馈结果", "提交合作伙伴整改跟踪报告"]


def account_heads() -> dict[str, str]:
    """role -> the department its demo login heads (and so approves for as 部门负责人)."""
    leaders = {leader: dept for dept, _, leader, _, _ in DEPARTMENTS}
    return {role: dept for role, _, dept, position in ACCOUNT_EMPLOYEES if leaders.get(position) == dept}


def _d(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


def _iso(d: datetime.date | None) -> str | None:
    return d.isoformat() if d else None


def _add_years(d: datetime.date, years: int) -> datetime.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _person(rng: random.Random, avoid: set[str] | None = None) -> str:
    """A Chinese name; with `avoid`, one not in it (and then added to it)."""
    while True:
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        if avoid is None:
            return name
        if name not in avoid:
            avoid.add(name)
            return name


def _mobile(rng: random.Random) -> str:
    return f"1{rng.choice('35789')}{rng.randrange(10**9):09d}"  # text: 11 digits, like 13812345678


def _address(rng: random.Random) -> tuple[str, str]:
    city = rng.choice(list(CITIES))
    district = rng.choice(CITIES[city][1].split())
    return city, f"{city}市{district}{rng.choice(STREETS)}{rng.randint(1, 999)}号"


def _insert(conn, table: str, rows: list[dict]) -> int:
    # Row dicts may carry private keys (plan, tier...) for later steps; only columns are written.
    cols = [c for c in rows[0] if c in registers.load().registers[table].columns]
    conn.executemany(
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})", rows
    )
    return len(rows)


def _employees(conn, rng, today) -> list[dict]:
    """Departments first (no manager yet), then employees, then each department's manager:
    departments.manager_id and employees.department_id refer to each other."""
    conn.executemany(
        "INSERT INTO departments (name, parent_id, notes)"
        " VALUES (?, (SELECT id FROM departments WHERE name = ?), ?)",
        [(name, parent, f"编制 {size} 人") for name, parent, _, _, size in DEPARTMENTS],
    )
    people = [dict(name=n, dept=d, position=p, account=True) for _, n, d, p in ACCOUNT_EMPLOYEES]
    used = {p["name"] for p in people} | set(SPECIAL_NAMES)
    specials = iter(SPECIAL_NAMES)
    for dept, _, leader, members, size in DEPARTMENTS:
        # A leader (unless a demo account is one), then members up to the headcount.
        positions = [p["position"] for p in people if p["dept"] == dept]
        wanted = ([] if leader in positions else [leader]) + members * size
        for position in wanted[: size - len(positions)]:
            name = next(specials, None) or _person(rng, used)
            people.append(dict(name=name, dept=dept, position=position))
    leaders = {d[2] for d in DEPARTMENTS}
    ordinary = [i for i, p in enumerate(people) if "account" not in p and p["position"] not in leaders]
    picked = rng.sample(ordinary, 11)
    left, probation = set(picked[:6]), set(picked[6:])
    for i, p in enumerate(people):
        p.update(no=f"{i + 1:05d}", status="在职", left=None)
        if i in probation:  # hired in the last three months
            p.update(status="试用", hired=today - _d(rng.randint(10, 85)))
        elif i in left:
            p["hired"] = today - _d(rng.randint(400, 2000))
            p.update(status="离职", left=p["hired"] + _d(rng.randint(120, (today - p["hired"]).days - 10)))
        else:
            days_back = (900, 3600) if p["position"] in leaders else (100, 2500)
            p["hired"] = today - _d(rng.randint(*days_back))
    conn.executemany(
        "INSERT INTO employees (employee_no, name, department_id, position, phone, email, hired_on, left_on,"
        " status) VALUES (?, ?, (SELECT id FROM departments WHERE name = ?), ?, ?, ?, ?, ?, ?)",
        [(p["no"], p["name"], p["dept"], p["position"], _mobile(rng), f"e{p['no']}@ops.example.com",
          _iso(p["hired"]), _iso(p["left"]), p["status"]) for p in people],
    )
    conn.executemany(
        "UPDATE departments SET manager_id = (SELECT id FROM employees WHERE employee_no = ?) WHERE name = ?",
        [(p["no"], p["dept"]) for p in people if p["position"] in leaders],
    )
    ids = dict(conn.execute("SELECT employee_no, id FROM employees"))
    for p in people:
        p["id"] = ids[p["no"]]
    return people


def _partners(conn, rng, today, staff) -> list[dict]:
    """Mostly running agreements; several ending within 60 days (three within 30), two already
    expired while still 合作中 (a missed renewal), a few paused or terminated."""
    plans = ["soon"] * 6 + ["expired"] * 2 + ["paused"] * 3 + ["ended"] * 3
    plans += ["normal"] * (sum(len(v[0].split()) for v in PARTNERS.values()) - len(plans))
    rng.shuffle(plans)
    liaisons = [p["id"] for p in staff
                if p["dept"] in ("合作伙伴管理组", "市场推广组") and p["status"] != "离职"]
    liaisons += [p["id"] for p in staff if p["no"] == DEMO_ACCOUNTS["editor"]]
    rows, soon = [], 0
    for category, (names, mode, projects) in PARTNERS.items():
        for core in names.split():
            i, plan = len(rows), plans[len(rows)]
            city, address = _address(rng)
            suffix = "" if core.endswith(("所", "学校", "会", "工作室", "平台")) else "有限公司"
            years = rng.choice([1, 2, 3])
            if plan == "soon":
                end, soon = today + _d(rng.randint(5, 28) if soon < 3 else rng.randint(32, 58)), soon + 1
            elif plan in ("expired", "ended"):
                end = today - _d(rng.randint(5, 45))
            else:  # started in the past, ends more than 60 days from now
                end = _add_years(today - _d(rng.randint(30, 365 * years - 75)), years) - _d(1)
            start = _add_years(end + _d(1), -years)
            since = min(start, today - _d(rng.randint(420, 2600)))
            rows.append(dict(
                name=f"{city}{core}{suffix}", category=category, contact_person=_person(rng),
                phone=f"{CITIES[city][0]}-{rng.randint(6000000, 89999999)}",
                email=f"contact@p{i + 1:03d}.example.com", address=address, cooperation_mode=mode,
                cooperation_projects="、".join(rng.sample(projects.split(), 2)), owner_id=rng.choice(liaisons),
                agreement_no=f"HZ-{start.year}-{i + 1:03d}", agreement_start=_iso(start),
                agreement_end=_iso(end), cooperating_since=_iso(since),
                status={"paused": "暂停", "ended": "已终止"}.get(plan, "合作中"),
                notes="".join(rng.sample(HISTORY, 2)).format(y=since.year), plan=plan,
            ))
    _insert(conn, "partners", rows)
    ids = dict(conn.execute("SELECT name, id FROM partners"))
    for r in rows:
        r["id"] = ids[r["name"]]
    return rows


def _quarters(today: datetime.date, n: int = 4) -> list[tuple[str, datetime.date]]:
    """The last n completed quarters, oldest first, with their last day."""
    year, q = today.year, (today.month - 1) // 3  # the last completed one; 0 = last year's Q4
    out = []
    for _ in range(n):
        if q == 0:
            year, q = year - 1, 4
        out.append((f"{year}-Q{q}", datetime.date(year + (q == 4), q * 3 % 12 + 1, 1) - _d(1)))
        q -= 1
    return out[::-1]


def _evaluations(conn, rng, today, partners) -> int:
    """Four quarters per partner; total_score and rating are left to the database triggers.
    One paused and one running partner fail (< 60) in the two most recent quarters."""
    failing = {next(p["id"] for p in partners if p["plan"] == plan) for plan in ("paused", "normal")}
    rows = []
    for p in partners:
        base = rng.gauss(80, 7)  # each partner has its own level, quarters vary around it
        for k, (period, end) in enumerate(_quarters(today)):
            if p["id"] in failing and k >= 2:
                scores = [round(rng.uniform(35, 58), 1) for _ in range(3)]
            else:
                scores = [round(min(100, max(40, base + rng.uniform(-8, 8))), 1) for _ in range(3)]
            avg = sum(scores) / 3
            rating = "优秀" if avg >= 90 else "良好" if avg >= 75 else "合格" if avg >= 60 else "不合格"
            decision = {"优秀": "加大合作", "良好": "维持合作", "合格": "限期整改"}.get(
                rating, "终止合作" if k == 3 else "限期整改")
            rows.append(dict(
                partner_id=p["id"], period=period, performance_score=scores[0], service_score=scores[1],
                reputation_score=scores[2], decision=decision, evaluator_id=p["owner_id"],
                evaluated_on=_iso(min(today, end + _d(rng.randint(5, 20)))),
                comments=EVALUATION_COMMENTS[rating],
            ))
    return _insert(conn, "partner_evaluations", rows)


def _trainings(conn, rng, today, staff) -> tuple[int, int]:
    """Last year's and this year's plan, past sessions 已完成 and future 计划中, three cancelled;
    eight active employees get no training this year (the report of who still needs some)."""
    active = [p for p in staff if p["status"] != "离职" and "account" not in p]
    untrained = {p["id"] for p in rng.sample([p for p in active if p["hired"].year < today.year], 8)}
    trainers = [p["name"] for p in staff if p["dept"] in ("培训发展组", "行政人事部") and p["status"] != "离职"]
    sessions = []
    for year in (today.year - 1, today.year):
        for k, (kind, topic, title, hours) in enumerate(COURSES):
            start = datetime.date(year, 1, 6) + _d(k * 20 + rng.randrange(5))
            external, online = kind in ("外部培训", "专家讲座"), kind == "在线学习"
            sessions.append(dict(
                title=title, kind=kind, topic=topic,
                trainer=f"外聘讲师 {_person(rng)}" if external else None if online else rng.choice(trainers),
                provider=rng.choice(PROVIDERS) if external else "在线学习平台" if online else None,
                starts_on=_iso(start), ends_on=_iso(start + _d((hours - 1) // 8)), hours=float(hours),
                location="线上" if online else rng.choice(["总部 3 楼培训室", "总部大会议室", "外部培训中心"]),
                cost=round(rng.uniform(*COST_RANGES.get(kind, (0, 800))), 2), plan_year=year,
                status="已完成" if start < today else "计划中",
            ))
    for s in rng.sample(sessions, 3):  # cancelled: no records
        s["status"] = "已取消"
    _insert(conn, "training_sessions", sessions)
    records = []
    for s, (sid,) in zip(sessions, conn.execute("SELECT id FROM training_sessions ORDER BY id")):
        start = datetime.date.fromisoformat(s["starts_on"])
        if s["status"] == "已取消":
            continue
        eligible = [p for p in staff if p["hired"] <= start and (p["left"] is None or p["left"] >= start)
                    and not (start.year == today.year and p["id"] in untrained)]
        for p in rng.sample(eligible, min(len(eligible), rng.randint(8, 16))):
            attendance = None  # enrolled in a planned session
            if s["status"] == "已完成":
                attendance = rng.choices(["已参加", "缺席", "请假"], [85, 5, 10])[0]
            score = round(rng.uniform(52, 99), 1) if attendance == "已参加" else None
            passed = None if score is None else int(score >= 60)
            records.append(dict(
                employee_id=p["id"], session_id=sid, attendance=attendance, score=score, passed=passed,
                certificate=f"{s['title']}结业证书" if passed and s["kind"] == "外部培训" else None,
                feedback_rating=rng.choices([3, 4, 5, 2], [25, 45, 25, 5])[0] if score else None,
                feedback=rng.choice(FEEDBACK) if score else None,
            ))
    return len(sessions), _insert(conn, "training_records", _ratings(records))


def _ratings(records: list[dict]) -> list[dict]:
    """Content, method and trainer ratings near each evaluation's overall one; some trainees rate
    only overall. Its own random numbers: the other demo rows stay as they were."""
    rng = random.Random(SEED + 13)
    for r in records:
        rated = r["feedback_rating"] is not None and rng.random() < 0.8
        for column in ("content_rating", "method_rating", "trainer_rating"):
            r[column] = min(5, max(1, r["feedback_rating"] + rng.choice([-1, 0, 0, 1]))) if rated else None
    return records


def _customers(conn, rng, today, staff) -> list[dict]:
    """Fill in the seeded tiers, then customers: most visited recently, some overdue for their
    tier's follow-up, some never visited; the demo manager and editor own overdue ones."""
    conn.executemany(
        "UPDATE customer_tiers SET rank = ?, criteria = ?, min_annual_spend = ?, service_policy = ?,"
        " follow_up_days = ? WHERE name = ?", [(*t[1:6], t[0]) for t in TIERS])
    tier_ids = dict(conn.execute("SELECT name, id FROM customer_tiers"))
    accounts = [p["id"] for p in staff if p["no"] in (DEMO_ACCOUNTS["manager"], DEMO_ACCOUNTS["editor"])]
    owners = [p["id"] for p in staff if p["dept"] == "客户运营组" and p["status"] != "离职"]
    rows = []
    for n in range(1, 521):
        tier, _, _, _, _, follow, spend = rng.choices(TIERS, [15, 50, 35])[0]
        kind = "企业" if rng.random() < 0.3 else "个人"
        city, address = _address(rng)
        name = _person(rng)
        if kind == "企业":
            name = f"{city}{''.join(rng.sample(BRAND_CHARS, 2))}{rng.choice(INDUSTRIES)}有限公司"
        first = last = None
        if not (tier == "潜在客户" and rng.random() < 0.5):  # many prospects never bought
            first = today - _d(rng.randint(30, 2500))
            last = first + _d(rng.randint(0, (today - first).days))
        r = rng.random()
        if n <= 12 or r < 0.2:  # overdue for the tier's follow-up
            visit = today - _d(follow + rng.randint(5, 120))
        elif r < 0.3:
            visit = None  # never visited: new customers, their first visit due or just overdue
            if first:
                first = today - _d(rng.randint(5, follow + 20))
                last = first + _d(rng.randint(0, (today - first).days))
        else:
            visit = today - _d(rng.randrange(follow))
        stale = last is None or (today - last).days > 365
        overdue = visit is None or (today - visit).days > follow
        rows.append(dict(
            customer_no=f"C{n:05d}", name=name, kind=kind, tier_id=tier_ids[tier],
            contact_person=_person(rng) if kind == "企业" else None, phone=_mobile(rng),
            email=f"c{n:05d}@mail.example.com" if kind == "企业" or rng.random() < 0.5 else None,
            address=address, source=rng.choice(SOURCES),
            owner_id=accounts[n % 2] if n <= 12 else rng.choice(owners),
            first_purchase_on=_iso(first), last_purchase_on=_iso(last),
            total_spend=round(rng.uniform(*spend), 2) if first else 0.0,
            preferences="；".join(rng.sample(PREFERENCES, 2)),
            churn_risk="高" if stale and overdue else "中" if stale or overdue else "低",
            tier=tier, visit=visit, follow=follow,  # last_visit_on follows the visits (demo_processes)
            notes=rng.choice([None, None, "年底有集中采购计划", "曾投诉配送延迟，已补偿", "希望参加新品品鉴会"]),
        ))
    _insert(conn, "customers", rows)
    return rows


def _meeting_plan(rng, today) -> list[tuple[str, str, datetime.date]]:
    """(kind, title, held_on) of 20 weekly, 10 monthly, 4 quarterly, 2 annual and 18 ad-hoc meetings."""
    monday = today - _d(today.weekday())
    plan = [("周会", f"运营部周例会（第 {(monday - _d(7 * k)).isocalendar()[1]} 周）", monday - _d(7 * k))
            for k in range(20)]
    for k in range(1, 11):
        year, month = divmod(today.year * 12 + today.month - 1 - k, 12)
        plan.append(("月会", f"{year}年{month + 1}月运营月度会", datetime.date(year, month + 1, rng.randint(3, 7))))
    for period, end in _quarters(today):
        plan.append(("季度会", f"{period.replace('-Q', '年第')}季度运营复盘会", end + _d(rng.randint(3, 10))))
    for year in (today.year - 2, today.year - 1):
        plan.append(("年度会", f"{year}年度运营总结与{year + 1}年计划会", datetime.date(year + 1, 1, 10)))
    # Each ad-hoc meeting twice, once in each half of the past year: (title, held_on) stays unique.
    plan += [(kind, title, today - _d(rng.randint(*days)))
             for kind, title in SPECIAL_MEETINGS for days in ((3, 160), (170, 330))]
    return [(kind, title, min(held, today)) for kind, title, held in plan]


def _meetings(conn, rng, today, staff) -> tuple[int, int]:
    """Meetings with Markdown minutes and 1–3 actions each; some actions overdue, including
    one each for the demo manager and editor in a few recent weekly meetings."""
    by_no = {p["no"]: p for p in staff}
    admin, manager, editor, viewer = (by_no[DEMO_ACCOUNTS[r]]
                                      for r in ["admin", "manager", "editor", "viewer"])
    active = [p for p in staff if p["status"] != "离职"]
    plan = _meeting_plan(rng, today)
    forced = [m for m in plan if 12 <= (today - m[2]).days <= 90][:4]
    meetings, actions = [], []
    for kind, title, held in plan:
        organizer = {"季度会": admin, "年度会": admin, "周会": manager, "月会": manager}.get(kind) or rng.choice(active)
        recorder = rng.choice([editor, viewer])
        people = [organizer, recorder] + rng.sample(active, rng.randint(3, 7))
        items = []
        for item in rng.sample(ACTIONS, rng.randint(1, 3)):
            due = held + _d(rng.randint(3, 30))
            if due < today:
                status = rng.choices(["已完成", "进行中", "未开始", "已取消"], [70, 12, 8, 10])[0]
            else:
                status = rng.choices(["未开始", "进行中", "已完成"], [45, 40, 15])[0]
            done = min(today, held + _d(rng.randint(1, (due - held).days + 3))) if status == "已完成" else None
            items.append((title, held, item, rng.choice(people), due, status, done))
        if (kind, title, held) in forced:
            n = forced.index((kind, title, held)) % 2
            due = today - _d(rng.randint(2, 8))
            items.append((title, held, ACCOUNT_ACTIONS[n], (manager, editor)[n], due, "进行中", None))
        points = [t.format(n=rng.randint(2, 40), k=rng.randint(1, 5), p=rng.randint(60, 98))
                  for t in rng.sample(POINTS, 3)]
        minutes = "\n".join([
            f"## {title}", "", f"**主持人**：{organizer['name']}　**记录人**：{recorder['name']}", "",
            "### 讨论要点", "", *(f"- {pt}" for pt in points), "", "### 决议事项", "",
            *(f"{i}. {it[2]}（责任人：{it[3]['name']}，{it[4]:%m月%d日}前）" for i, it in enumerate(items, 1)),
        ])
        meetings.append(dict(
            kind=kind, title=title, held_on=_iso(held), location=rng.choice(["总部 5 楼会议室", "总部大会议室", "线上"]),
            starts_at=rng.choice(["09:00", "09:30", "10:00", "14:00", "15:30"]), organizer_id=organizer["id"],
            recorder_id=recorder["id"], attendees="、".join(dict.fromkeys(p["name"] for p in people)),
            agenda="\n".join(f"{i}. {a}" for i, a in enumerate(rng.sample(AGENDA, 4), 1)), minutes=minutes,
            distributed_on=_iso(min(today, held + _d(rng.randint(0, 2)))),
        ))
        actions += items
    _insert(conn, "meetings", meetings)
    ids = {(t, h): i for i, t, h in conn.execute("SELECT id, title, held_on FROM meetings")}
    return len(meetings), _insert(conn, "meeting_actions", [dict(
        meeting_id=ids[(t, _iso(h))], item=item, owner_id=owner["id"], due_on=_iso(due), status=status,
        done_on=_iso(done), notes="已逾期，需在周会上说明原因" if status in ("未开始", "进行中") and due < today else None,
    ) for t, h, item, owner, due, status, done in actions])


def _agreements(conn, rng, today, staff, partners, customers) -> int:
    """Employees sign on hiring (leaders open-ended, others 3-year terms renewed, four expiring
    within 30 days, leavers bound two more years); partners' follow their cooperation agreement;
    then some key clients and other parties."""
    rows = []
    leaders = {d[2] for d in DEPARTMENTS}
    aged = [p for p in staff
            if p["status"] != "离职" and p["position"] not in leaders and (today - p["hired"]).days > 1100]
    expiring = {p["id"] for p in rng.sample(aged, 4)}

    def add(kind, name, effective, expires, level, status=None, **extra):
        rows.append(dict(
            agreement_no=f"BM-{effective.year}-{len(rows) + 1:04d}", party_kind=kind, party_name=name,
            employee_no=extra.get("employee_no"), partner_name=extra.get("partner_name"),
            signed_on=_iso(effective - _d(rng.randint(0, 7))), effective_on=_iso(effective),
            expires_on=_iso(expires), secrecy_level=level, scope=SCOPE[kind],
            liability=LIABILITY.format(n=rng.choice([5, 10, 20, 50])),
            document_ref=f"人事档案室 {rng.choice('ABCD')} 柜第 {rng.randint(1, 40)} 盒",
            status=status or ("已到期" if expires and expires < today else "有效"),
            notes=extra.get("notes") or (None if expires else "长期有效"),
        ))

    for p in staff:
        sensitive = p["position"] in leaders or p["dept"] in ("财务部", "数据分析组")
        level = "机密" if sensitive else rng.choice(["内部", "秘密"])
        level = "绝密" if p["no"] == DEMO_ACCOUNTS["admin"] else level
        if p["status"] == "离职":
            add("员工", p["name"], p["hired"], _add_years(p["left"], 2), level, employee_no=p["no"],
                notes="离职后保密义务持续两年")
        elif p["position"] in leaders:
            add("员工", p["name"], p["hired"], None, level, employee_no=p["no"])
        else:
            effective = p["hired"]
            if p["id"] in expiring:
                effective = _add_years(today + _d(rng.randint(3, 28)), -3) + _d(1)
            while _add_years(effective, 3) <= today:  # renewed every three years
                effective = _add_years(effective, 3)
            add("员工", p["name"], effective, _add_years(effective, 3) - _d(1), level, employee_no=p["no"])
    for p in partners:
        add("合作伙伴", p["name"], datetime.date.fromisoformat(p["agreement_start"]),
            datetime.date.fromisoformat(p["agreement_end"]), "机密" if p["category"] == "技术服务" else "秘密",
            "已终止" if p["status"] == "已终止" else None, partner_name=p["name"])
    key_clients = [c for c in customers
                   if c["kind"] == "企业" and c["tier"] == "重要客户" and c["first_purchase_on"]]
    for c in key_clients[:8]:
        effective = datetime.date.fromisoformat(c["first_purchase_on"])
        add("客户", c["name"], effective, _add_years(effective, 2) - _d(1), "秘密")
    for k, name in enumerate(OTHER_PARTIES):
        effective = today - _d(rng.randint(60, 500))
        add("其他", name, effective, _add_years(effective, 1), rng.choice(["内部", "秘密"]),
            "已终止" if k == 2 else None)  # the intern left early
    return _insert(conn, "confidentiality_agreements", rows)


AGREEMENT_TERMS = ["甲方按月结算货款，乙方保证按期交付并承担质量责任", "乙方负责渠道推广，甲方提供培训与物料支持",
                   "双方共享客户服务数据，均负有保密义务", "乙方提供技术服务与 7×24 小时运维响应"]


def _partner_agreements(conn, today, partners: list[dict]) -> int:
    """Each partner's agreements: the current one (as its file shows it) and, for partners who
    cooperated before it began, the first agreement it renewed; a few with a supplement. The
    current one is the newest, so the partners' own columns stay as they are."""
    rng = random.Random(SEED + 11)
    rows = []
    for p in partners:
        start, end = datetime.date.fromisoformat(p["agreement_start"]), datetime.date.fromisoformat(p["agreement_end"])
        since = datetime.date.fromisoformat(p["cooperating_since"])
        renewed = since < start
        if renewed:
            rows.append(dict(partner_id=p["id"], agreement_no=f"{p['agreement_no']}-0", kind="首签", starts_on=_iso(since),
                             ends_on=_iso(start - _d(1)), signed_on=_iso(since - _d(rng.randint(3, 20))),
                             subject=rng.choice(AGREEMENT_TERMS), document_ref=f"档案柜 B-{rng.randint(1, 40):02d}"))
        rows.append(dict(partner_id=p["id"], agreement_no=p["agreement_no"], kind="续签" if renewed else "首签",
                         starts_on=_iso(start), ends_on=_iso(end), signed_on=_iso(start - _d(rng.randint(3, 20))),
                         subject=rng.choice(AGREEMENT_TERMS), amount=rng.choice([None, 50000, 120000, 300000]),
                         document_ref=f"档案柜 A-{rng.randint(1, 40):02d}"))
        if rng.random() < 0.2 and start < today:
            rows.append(dict(partner_id=p["id"], agreement_no=f"{p['agreement_no']}-补1", kind="补充协议",
                             starts_on=_iso(min(today, start + _d(rng.randint(30, 200)))), ends_on=_iso(end),
                             subject="调整结算周期为双月结算", document_ref=f"档案柜 A-{rng.randint(1, 40):02d}"))
    keys = ("partner_id", "agreement_no", "kind", "starts_on", "ends_on", "signed_on", "subject", "amount", "document_ref")
    # The current agreements first: each older one then changes nothing on its partner's file.
    rows.sort(key=lambda row: row["kind"] == "首签" and row["agreement_no"].endswith("-0"))
    return _insert(conn, "partner_agreements", [{k: row.get(k) for k in keys} for row in rows])


def _partner_meetings(conn, today) -> tuple[int, int]:
    """A cooperation meeting (合作会议) each of the last two quarters with three running partners,
    organised by the partner's liaison, with one action each. Its own random numbers: the other
    demo rows stay as they were."""
    rng = random.Random(SEED + 7)
    partners = conn.execute("SELECT id, name, owner_id FROM partners WHERE status = '合作中' AND owner_id IS NOT NULL"
                            " ORDER BY id LIMIT 3").fetchall()
    rows = []
    for partner_id, name, owner in partners:
        for back in (20, 110):
            held = today - _d(back + rng.randint(0, 20))
            rows.append(dict(
                kind="专项会议", title=f"与{name}季度合作会议", held_on=_iso(held), partner_id=partner_id,
                location=rng.choice(["总部 5 楼会议室", "线上", f"{name}会议室"]), starts_at="14:00", organizer_id=owner,
                attendees=f"{name}对接团队、合作伙伴管理组", agenda="1. 上季度合作情况回顾\n2. 交付与服务问题\n3. 下季度合作计划",
                minutes=f"## 与{name}季度合作会议\n\n- 双方确认上季度交付基本按期完成。\n- 商定下季度的合作重点与对接人。",
                distributed_on=_iso(min(today, held + _d(1)))))
    _insert(conn, "meetings", rows)
    actions = []
    for row in rows:
        meeting_id = conn.execute("SELECT id FROM meetings WHERE title = ? AND held_on = ?",
                                  [row["title"], row["held_on"]]).fetchone()[0]
        due = datetime.date.fromisoformat(row["held_on"]) + _d(14)
        actions.append(dict(meeting_id=meeting_id, item="落实会上商定的交付改进措施并回报", owner_id=row["organizer_id"],
                            due_on=_iso(due), status="已完成" if due < today else "进行中",
                            done_on=_iso(due - _d(2)) if due < today else None))
    return len(rows), _insert(conn, "meeting_actions", actions)


def fill(data_dir: DataDir, today: datetime.date | None = None) -> dict[str, int]:
    """Fill every register of an initialised data dir with demo rows; returns rows inserted per
    register (for customer_tiers: the seeded tiers filled in). Does nothing, and returns zeros,
    when the registers hold data already."""
    today = today or clock.today()
    definition = registers.load()
    counts = {name: 0 for name in definition.registers}
    ops, hr = data_dir.connect("ops"), data_dir.connect("hr")
    try:
        filled = ("departments", "employees", "partners", "customers", "meetings", "training_sessions")
        if any(ops.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in filled):
            return counts
        rng = random.Random(SEED)
        # Recorded in the audit log like any other write, as the CLI's.
        who = audit.Who(actor=None, role=None, source="cli", note="演示数据（taizhang init --demo）")
        key = audit.key_from_secret(data_dir.secret())
        with audit.audited(ops, who, key):
            staff = _employees(ops, rng, today)
            partners = _partners(ops, rng, today, staff)
            counts.update(departments=len(DEPARTMENTS), employees=len(staff), partners=len(partners))
            counts["partner_evaluations"] = _evaluations(ops, rng, today, partners)
            counts["partner_agreements"] = _partner_agreements(ops, today, partners)
            counts["training_sessions"], counts["training_records"] = _trainings(ops, rng, today, staff)
            customers = _customers(ops, rng, today, staff)
            counts.update(customer_tiers=len(TIERS), customers=len(customers))
            counts["meetings"], counts["meeting_actions"] = _meetings(ops, rng, today, staff)
            with_partners = _partner_meetings(ops, today)
            counts["meetings"] += with_partners[0]
            counts["meeting_actions"] += with_partners[1]
            counts["customer_visits"] = demo_processes.visits(ops, rng, today, customers)
            search.drain(ops, definition)  # same transaction: search never misses a demo row
        # The processes: each step its own transaction, written as the person who takes it.
        cast = demo_processes.Cast(staff, DEPARTMENTS, DEMO_ACCOUNTS)
        counts.update(demo_processes.fill(ops, key, cast, today))
        with audit.audited(ops, who, key):
            search.drain(ops, definition)
        # hr.db is another file, so its own transaction; its 工号 and partner names come from
        # the rows just committed to ops, so the cross-file reference queue needs no check.
        with audit.audited(hr, who, key):
            counts["confidentiality_agreements"] = _agreements(hr, rng, today, staff, partners, customers)
            xref.clear_queue(hr)
            search.drain(hr, definition)
        return counts
    finally:
        ops.close()
        hr.close()
