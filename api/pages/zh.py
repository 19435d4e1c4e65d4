"""Every word the web pages say, in Simplified Chinese, in one place.

The API answers errors in English problem+json with a stable ``code`` and the ``field``
at fault. The pages show a Chinese sentence next to that field instead: ``MESSAGES`` maps
``code:field`` (the most specific), then ``code``, to a sentence whose ``{name}``s are
filled from the problem's own members (``{cap}`` → ``VALUES["day"]`` → 日). A problem no
entry knows shows the server's ``detail``. The pages' script receives these tables as
JSON (``for_script``) so the browser and the server read the very same words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

CATEGORIES = {
    "patrol": "网格巡查",
    "task": "交办任务",
    "event_report": "事件上报",
    "diary": "民情日记",
    "activity": "志愿活动",
    "other": "其他",
}

KINDS = {
    "award": "获得",
    "reversal": "撤销",
    "deduction": "扣分",
    "hold": "兑换冻结",
    "fulfil": "兑换领取",
    "release": "兑换退回",
    "expiry": "过期",
}

REDEMPTION_STATES = {"held": "待领取", "fulfilled": "已领取", "cancelled": "已取消", "expired": "已过期"}

WINDOWS = {"day": "天", "week": "周", "year": "年"}

SKIP_REASONS = {
    "member_inactive": "成员已停用",
    "not_eligible": "身份不符合规则",
    "cap_exceeded": "已达积分上限",
    "rule_inactive": "规则当天不生效",
    "member_not_found": "找不到成员",
    # Roster lines over the rule's maximum are refused when put; a rule lowered after
    # that still skips the line at settle, for this reason.
    "invalid_input": "数量超过规则上限",
}

SIGNIN_NOTES = {
    "expired": "登录已失效，请重新登录。",
    "member": "请用您本人的登录链接或二维码登录。",
    "desk": "工作台需要组织者的登录令牌。",
    "signed_out": "您已退出登录。",
}
"""Why the sign-in form is shown again (the ``why`` query parameter of the redirect)."""

SIGNIN_ERRORS = {
    "revoked": "该登录令牌已被收回，请向组织者索取新的登录链接。",
    "expired": "该登录令牌已过期，请向组织者索取新的登录链接。",
    "": "登录令牌无效，请检查后重试。",
}
"""Why a token did not sign in (the ``reason`` of the ledger's refusal; none: not valid)."""

RESIDENT_SIGNIN_ERRORS = {
    "revoked": "这个登录链接已被收回，请向社区工作人员索取新的登录二维码。",
    "expired": "这个登录链接已过期，请向社区工作人员索取新的登录二维码。",
    "": "登录链接无效：请检查是否复制完整，或请社区工作人员重新打印登录二维码。",
}
"""The same, as a resident reads it: a resident holds a link or a QR code, not a token."""

VALUES: dict[str, str] = {**WINDOWS, **CATEGORIES}
"""Values a message quotes from a problem (a cap's window, a category), in Chinese."""

MESSAGES = {
    # Input the form got wrong: one sentence per field.
    "invalid_input": "填写有误，请检查后重试",
    "invalid_input:points": "请选择积分规则",
    "invalid_input:category": "请选择积分规则",
    "invalid_input:rule": "请选择积分规则",
    "invalid_input:quantity": "数量须为正整数，且不超过规则允许的上限",
    "invalid_input:steps": "巡查须填写步数，且达到规则要求的步数",
    "invalid_input:occurred_at": "请填写时间：不晚于现在，不早于 2000 年",
    "invalid_input:memo": "备注最多 500 字",
    "invalid_input:name": "请填写名称（最多 100 字）",
    "invalid_input:starts_at": "请填写开始时间",
    "invalid_input:ends_at": "结束时间须晚于开始时间；活动结束后才能结算",
    "invalid_input:organizer": "请填写组织者的成员编号",
    "invalid_input:participants": "名单最多 10000 人",
    "invalid_input:participants.member_id": "成员编号有误，或在名单中重复出现",
    "invalid_input:participants.quantity": "数量须为正整数，且不超过规则允许的上限",
    "invalid_input:reason": "请填写原因（最多 500 字）",
    "invalid_input:q": "请输入姓名或成员编号",
    "invalid_input:Idempotency-Key": "请刷新页面后重试",
    "invalid_input:file": "无法读取该文件：请上传 Excel（.xlsx）或 CSV 文件",
    "malformed_request": "提交的内容格式有误，请刷新页面后重试",
    # Who may do what.
    "unauthenticated": "登录已失效，请重新登录",
    "http_401": "请先登录",
    "forbidden": "超出您的权限或管辖范围",
    "forbidden:participants": "名单中有 {members_outside_count} 人不在您的管辖范围内：{members_outside}",
    "forbidden:member_id": "该成员不在您的管辖范围内",
    "forbidden:org_unit": "该单位不在您的管辖范围内",
    # Things that do not exist.
    "member_not_found": "找不到成员“{member_id}”",
    "member_not_found:participants.member_id": "找不到成员“{member_id}”",
    "org_unit_not_found": "找不到单位“{org_unit}”",
    "rule_not_found": "找不到积分规则“{rule}”",
    "activity_not_found": "找不到该活动",
    "transaction_not_found": "找不到该条记录",
    "reward_not_found": "找不到该奖品",
    "redemption_not_found": "找不到该兑换",
    "http_404": "找不到该页面",
    # The ledger's refusals.
    "cap_exceeded": "已达上限：该规则每{cap}最多 {cap_points} 分，已得 {used_points} 分，还可得 {room_points} 分",
    "not_eligible": "该成员的身份不在此规则的奖励范围内",
    "rule_inactive": "该规则在这一天不生效",
    "member_inactive": "该成员已停用，不能再获得积分",
    "already_reversed": "这条记录已经撤销过了",
    "not_reversible": "这类记录不能撤销",
    "insufficient_points": "积分不足：可用 {available_points} 分，需要 {needed_points} 分",
    "already_settled": "该活动已结算，名单和积分不能再改",
    "import_refused": "有 {refused} 行未通过检查，整个文件都没有导入：请改正这些行后重新导入",
    "out_of_stock": "已兑完",
    "over_limit": "已达兑换次数上限",
    "tier_too_low": "达到“{min_tier}”等级后才能兑换",
    "reward_inactive": "该奖品现在不能兑换",
    "reward_not_offered": "您所在的网格不提供该奖品",
    "redemption_not_held": "该兑换已经处理过了",
    "hold_expired": "该兑换已过期",
    "exists_with_different_body": "请刷新页面后重试",
    "idempotency_key_taken": "该提交编号已被其他账号使用，未做任何更改，请刷新页面后重试",
    "rate_limited": "操作太频繁，请 {retry_after_seconds} 秒后再试",
    "internal_error": "服务器出错，没有做任何更改，请稍后重试",
}

# The public notice (公示) and the landing page.

NOMINATION_STATES = {
    "flagged": "待公示",
    "in_notice": "公示中",
    "confirmed": "已确认推荐",
    "withdrawn": "已撤回",
    "revoked": "积分回落，已取消",
}
"""A name's state on a notice, as the desk shows it."""

# Statement lines: what a line is, in words (the shop's lines name the reward).
SHOP = "积分超市"

MESSAGES.update(
    {
        "notice_not_found": "找不到该公示，请核对链接",
        "forbidden:notice_id": "该公示不在您的管辖范围内",
        "nomination_not_found": "找不到该推荐人选",
        "nomination_state_conflict": "该人选现在不能这样办理：公示期内只能登记异议或撤回，期满后才能确认",
        "invalid_input:period": "年度须为四位数字，如 2026",
        "invalid_input:working_days": "公示工作日须为 1 到 30 天",
        "invalid_input:flag": "请选择推荐类别",
    }
)


# The counter (核销台) and the shop's shelves (奖品管理) on the desk, and the shop on /me.
MESSAGES.update(
    {
        "invalid_input:name_zh": "请填写奖品名称（最多 100 字）",
        "invalid_input:kind": "请选择物品或服务",
        "invalid_input:cost_points": "所需积分须为 1 到 100000 之间的整数",
        "invalid_input:stock": "库存须为整数，且不少于已兑换未领取和已领取的件数",
        "invalid_input:add_stock": "补货数量须为正整数；不限量的奖品不需要补货",
        "invalid_input:limit_count": "限兑次数须为 1 到 1000 之间的整数",
        "invalid_input:limit_period": "限兑须同时填写次数和周期",
        "invalid_input:limit": "要取消限兑，请把次数和周期都清空",
        "invalid_input:min_tier": "请选择本社区等级方案中的等级",
        "invalid_input:pickup_place": "领取地点最多 100 字",
        "invalid_input:pickup_hours": "领取时间最多 100 字",
        "invalid_input:active_from": "请填写上架时间",
        "invalid_input:active_until": "下架时间须晚于上架时间",
        "already_exists:code": "奖品编号重复，请刷新页面后重试",
        "forbidden:redemption_id": "该兑换不在您的管辖范围内",
        "camera_unavailable": "无法打开摄像头，请直接输入取货码",
    }
)

REWARD_KINDS = {"goods": "物品", "service": "服务"}

LIMIT_PERIODS = {"day": "每天", "week": "每周", "month": "每月", "year": "每年", "ever": "总共"}

SHOP_EMPTY = {
    "no_shop": "本社区还没有开设积分超市。",
    "sold_out": "奖品都已兑完，请等待补货。",
    "short": "积分还不够兑换奖品：最便宜的“{name}”需要 {cost} 分，还差 {short} 分，继续加油！",
}
"""Why /me lists nothing to redeem now: no shop here, everything out of stock, or too few
points for the cheapest reward (how many more are needed)."""

_INDEX = re.compile(r"\[\d+\]")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def field_key(field: str) -> str:
    """``participants[3].quantity`` → ``participants.quantity``: the key a message is kept under."""
    return _INDEX.sub("", field)


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(_value(v) for v in value)
    return VALUES.get(str(value), str(value))


def message(problem: Mapping[str, Any]) -> str:
    """The Chinese sentence for a problem+json body, else its ``detail``."""
    code, field = str(problem.get("code", "")), field_key(str(problem.get("field") or ""))
    template = MESSAGES.get(f"{code}:{field}") or MESSAGES.get(code)
    if template is None:
        return str(problem.get("detail") or MESSAGES["internal_error"])
    if any(name not in problem for name in _PLACEHOLDER.findall(template)):
        return str(problem.get("detail") or template)
    return _PLACEHOLDER.sub(lambda m: _value(problem[m.group(1)]), template)


def for_script() -> dict[str, Any]:
    """What the pages' script needs to say the same as ``message``."""
    return {"messages": MESSAGES, "values": VALUES}


# Claims: the desk's review queue and the resident's own reports.

CLAIM_STATES = {"pending": "待审核", "approved": "已通过", "declined": "未通过"}

WORK_UNITS = {"patrol": "次", "hour": "小时", "character": "字", "report": "件", "task": "项", "activity": "次"}
"""A rule's unit of work as a quantity is counted in it (``12 小时``, ``1500 字``)."""

CLAIM_KINDS = {"patrol": "巡查", "diary": "民情日记", "event_report": "事件上报"}
"""The work a resident reports themselves, by the category of the rule that pays it."""

MESSAGES.update(
    {
        "invalid_input:reference": "请填写事件在上报平台的编号（不含空格和斜杠）",
        "invalid_input:evidence_url": "照片链接须以 http:// 或 https:// 开头",
        "invalid_input:decisions": "请先勾选要审核的上报（每次最多 100 条）",
        "invalid_input:decisions.reason": "退回须填写原因",
        "invalid_input:decisions.claim_id": "所选上报有误，请刷新页面后重试",
        "forbidden:decisions.claim_id": "所选上报中有不在您管辖范围内的",
        "forbidden:claim_id": "该上报不在您的管辖范围内",
        "claim_not_found": "找不到这条上报",
        "claim_not_pending": "这条上报已经审核过了",
    }
)


# Imports on the desk (导入): the outcome of each row (the ledger words its refusals in Chinese itself).

IMPORT_OUTCOMES = {"created": "新增", "updated": "更新", "unchanged": "不变", "refused": "拒绝"}


MESSAGES.update(
    {
        "body_too_large": "文件太大，没有导入任何内容：请把文件拆成几个再分别导入",
        "import_no_file": "请先选择要导入的文件",
        "import_changed": "文件或类型已更改，请重新预检",
        "import_conflict": "其他同事同时导入了相同的成员，本次什么都没有导入：请重新预检后再导入",
    }
)
