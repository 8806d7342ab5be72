"""Builds the process registers' sample workbooks (leave_requests, expense_claims,
customer_feedback, customer_visits, appraisals) next to this file: hand-kept sheets with the ordinary mess
of real ones — a title and a blank row above the header, a 序号 column, header variants, people
by name or by 工号, typed dates and date-times (2026/12/2 9:30) beside real Excel date-time
cells, a footer — and a few rows a person got wrong, which the import must report by file, row,
column and value. Fixed data: a rebuild changes only the workbooks' saved time. Run it with

    python tests/samples/make_process_samples.py
"""

import datetime
import pathlib

import openpyxl

HERE = pathlib.Path(__file__).parent
FOOTER = ["制表人：高欣怡　　审核：韩子涵　　日期：2026年12月2日"]


def dt(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M")


def d(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%d")


def save(name: str, sheet: str, title: str, header: list, rows: list, formats: dict) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append([title])
    ws.append([])
    ws.append(["序号", *header])
    for n, row in enumerate(rows, 1):
        ws.append([n, *row])
    ws.append([])
    ws.append(FOOTER)
    for letter, number_format in formats.items():   # Excel's own date and date-time formats
        for cell in ws[letter][3:3 + len(rows)]:
            if isinstance(cell.value, datetime.datetime):
                cell.number_format = number_format
    wb.save(HERE / f"{name}.xlsx")


# Applicants are the roster's (employees.xlsx): by name, or by 工号 where the name is shared (张伟).
LEAVE = [
    ["高欣怡", "客户运营组", "年假", d("2026-12-14"), d("2026-12-16"), 3, "年假探亲", "草稿"],
    ["00012", "前场服务组", "病假", d("2026-11-30"), d("2026-11-30"), 1, "发烧就医", "已提交"],
    ["肖娟", "市场推广组", "事假", "2026/12/8", "2026/12/8", "0.5天", "办理证件", "待审批"],
    ["胡宇航", "产品运营组", "調休", "2026年12月21日", "2026年12月22日", 2, "周末加班调休", "提交"],
    ["谢俊杰", "数据分析组", "sick", d("2026-12-03"), d("2026-12-04"), 2, "复查", "已提交"],
    ["韩子涵", "运营部", "年休假", d("2027-01-04"), d("2027-01-08"), None, "年假出游", "草稿"],   # days from the dates
    ["余建华", "运营区管理部", "婚假", d("2026-12-01"), d("2026-11-28"), 3, "结婚", "已提交"],   # ends before it starts
    ["不在册的人", "客户运营组", "事假", d("2026-12-09"), d("2026-12-09"), 1, "家中有事", "已提交"],   # no such employee
    ["王丽", "华南运营区", "事假", d("2026-12-10"), d("2026-12-10"), 1, "搬家", "已批准"],   # not an initial state
]
CLAIMS = [
    ["BX-202611-001", "高欣怡", "客户运营组", "交通费", 86.5, d("2026-11-25"), 3, "客户回访打车费", "已提交"],
    ["BX-202611-002", "肖娟", "市场推广组", "广告费", "¥18,600.00", "2026/11/20", "1张", "双十一线上广告投放", "草稿"],
    ["BX-202611-003", "00047", "客户运营组", "业务招待", "1280元", d("2026-11-18"), 2, "重要客户答谢午餐", "待审核"],
    ["BX-202611-004", "胡宇航", "产品运营组", "差旅费", "2,130", "2026年11月12日", 5, "成都用户访谈差旅", "提交"],
    ["BX-202611-005", "谢俊杰", "数据分析组", "培训费", 0, d("2026-11-10"), 1, "数据分析课程", "已提交"],   # amount 0
    ["BX-202611-006", "刘军", "华东运营区", "办公费", "一百元", d("2026-11-09"), 1, "办公用品", "已提交"],   # not a number
    ["BX-202611-007", "王丽", "华南运营区", "交通费", 150, d("2026-11-08"), 2, "出差交通", "已支付"],   # not an initial state
]
FEEDBACK = [
    ["FK-20261201-01", dt("2026-12-01 09:20"), "KH000002", "电话", "投诉", "配送延迟三天未送达", "物流信息停滞", dt("2026-12-02 09:20"), "已登记"],
    ["FK-20261201-02", "2026/12/1 14:05", "彭磊", "在线", "咨询", "会员积分如何兑换", "询问积分有效期", "2026/12/3 14:05", "登记"],
    ["FK-20261202-03", "2026-12-02T08:40", "KH000005", "邮件", "建议", "希望增加周末配送", None, None, "新建"],   # deadline left to the kind's
    ["FK-20261202-04", "２０２６/１２/２ ９:３０", "KH000009", "微信", "complaint", "礼盒包装破损", "要求换货", "2026年12月3日 9点30分", "已登记"],
    ["FK-20261202-05", "12月2日上午", "KH000006", "电话", "投诉", "发票开具错误", None, None, "已登记"],   # no date in it
    ["FK-20261202-06", dt("2026-12-02 10:10"), "KH000007", "现场", "投诉", "店员态度差", None, "2026-12-02 25:00", "已登记"],   # 25:00
    ["FK-20261202-07", dt("2026-12-02 11:00"), "KH000008", "电话", "表扬", "客服耐心解答", None, None, "已关闭"],   # not an initial state
]
VISITS = [
    ["KH000001", "梁静", d("2026-11-20"), "高欣怡", "电话", "季度例行回访", "整体满意", 5, "低"],
    ["KH000002", "广州市新视界母婴用品有限公司", "2026/11/18", "高欣怡", "拜访", "介绍新品与会员权益", "希望配送再快一些", "4分", "低风险"],
    ["KH000003", "彭磊", "2026年11月15日", "00012", "wechat", "节前问候", None, 3, "中"],
    ["KH000004", "东莞市信达母婴用品有限公司", d("2026-11-12"), "00047", "邮件", "核对年度采购计划", "价格偏高", 2, "high"],
    ["KH000005", "北京飞鸿美容美发有限公司", d("2026-11-30"), "高欣怡", "电话", "跟进投诉处理结果", "已解决", 6, "低"],   # 6 of 5
    ["KH999999", "不存在的客户", d("2026-11-29"), "高欣怡", "电话", "回访", None, 4, "低"],   # no such customer
]

# A department's monthly appraisal sheet as kept by hand: periods written every way people write
# them (2026年10月, a real Excel date, 2026Q3, 2026年度), scores with 分, a blank state.
APPRAISALS = [
    ["高欣怡", "2026年10月", 92, None, 88, 90, "本月回访量第一", "待自评"],
    ["00012", d("2026-10-01"), "85分", 80, 82, None, None, "未开始"],
    ["肖娟", "2026Q3", 70, 65, 58, None, "季度考核，投诉处理偏慢", "待自评"],
    ["胡宇航", "2026年度", 88, None, None, None, None, None],   # state left blank: the first one
    ["谢俊杰", "2026-10", 105, None, 80, None, None, "待自评"],   # 105 of 100
    ["不在册的人", "2026-10", 80, None, 80, None, None, "待自评"],   # no such employee
    ["韩子涵", "2026年13月", 80, None, 80, None, None, "待自评"],   # no 13th month
    ["余建华", "2026-10", 75, None, 80, None, "已确认", "已确认"],   # not an initial state
]


def main() -> None:
    save("leave_requests", "请假登记", "客户运营中心请假申请登记表（2026年12月）",
         ["姓名", "所属部门", "请假类型", "开始日期", "结束日期", "请假天数", "事由", "状态"], LEAVE,
         {"E": "yyyy-mm-dd", "F": "yyyy-mm-dd"})
    save("expense_claims", "报销登记", "费用报销申请汇总表（2026年11月）",
         ["单号", "报销人", "部门", "费用类别", "报销金额", "发生日期", "发票张数", "说明", "状态"], CLAIMS,
         {"G": "yyyy/m/d"})
    save("customer_feedback", "投诉台账", "客户反馈与投诉登记台账",
         ["投诉编号", "登记时间", "客户名称", "反馈渠道", "反馈类型", "主题", "内容", "回复期限", "状态"], FEEDBACK,
         {"C": "yyyy-mm-dd hh:mm", "I": "yyyy/m/d h:mm"})
    save("customer_visits", "回访记录", "客户回访记录表（2026年11月）",
         ["客户", "客户名称", "日期", "回访人", "回访方式", "回访内容", "客户反馈", "满意度", "流失风险"], VISITS,
         {"D": "yyyy-mm-dd"})
    save("appraisals", "月度考核", "客户运营中心员工绩效考核汇总表（2026年10月）",
         ["姓名", "考核期间", "自评", "同事评价", "上级评价", "客户评价", "评语", "状态"], APPRAISALS,
         {"C": "yyyy年m月"})


if __name__ == "__main__":
    main()
