"""The Chinese names of the audit trail's codes: every action, object type and result, in one place.

Audit rows keep stable English codes (they are hashed into the chain and read by scripts); people
read these labels. ``tests/test_audit_page.py`` finds every ``audit(...)`` call in core and fails
when an action has no label here, so a new action cannot be forgotten.
"""
from __future__ import annotations

from core.kernel.status import Action

# Actions on an application ("application.<Action>"): the timeline's own names.
_APPLICATION = {f"application.{a.value}": f"申请{a.label}" for a in Action}

ACTIONS: dict[str, str] = _APPLICATION | {
    "application.view": "查看申请",
    "application.declare": "在线确认承诺(续办)",
    "material.upload": "上传申请材料",
    "material.remove": "删除申请材料",
    "material.download": "下载申请材料",
    "material.preview": "预览申请材料",
    "form.download": "下载打印表格",
    "verification.tampered": "核验码被篡改",
    "recognition.create": "作出认定",
    "recognition.expire": "认定到期",
    "recognition.end": "认定终止(续办未通过)",
    "login": "登录",
    "logout": "退出登录",
    "session.end": "强制下线",
    "api.token": "接口登录(取得令牌)",
    "api.logout": "接口退出登录",
    "user.register": "注册账号",
    "user.create": "新建工作人员账号",
    "user.create.cli": "新建工作人员账号(命令行)",
    "user.change_password": "修改密码",
    "user.update_contact": "修改联系方式",
    "user.update_notice_prefs": "修改通知方式",
    "user.unlock": "解除账号锁定",
    "user.force_logout": "强制下线",
    "user.enable": "启用账号",
    "user.disable": "停用账号",
    "user.practitioner_code": "登记医保医师代码",
    "user.practitioner_code.cli": "登记医保医师代码(命令行)",
    "person.lookup": "按身份证号查找参保人",
    "person.view_full": "查看完整个人信息",
    "person.export": "导出本人数据",
    "person.category": "变更待遇类别",
    "benefit.view_person": "查看参保人门特待遇",
    "benefit.settle": "门特结算",
    "benefit.reverse": "冲销门特结算",
    "benefit.import": "导入门特结算",
    "benefit.import_file": "导入门特结算文件",
    "benefit.recovery_open": "开立待遇追回(续办未通过)",
    "benefit.recovery_recover": "待遇追回:冲销追回",
    "benefit.recovery_waive": "待遇追回:免予追回",
    "benefit.recovery_export": "导出待遇追回清单",
    "benefit.export_year": "导出年度门特结算明细",
    "stay.record": "登记住院",
    "stay.reverse": "冲销住院登记",
    "chosen.record": "登记选定医院",
    "notice.retry": "重发短信",
    "queue.retry": "重新执行失败的后台任务",
    "task.request": "提交后台生成任务",
    "task.download": "下载后台生成的文件",
    "task.expire": "删除超过保存期限的生成文件",
    "backup.create": "备份数据库和文件",
    "backup.restore": "从备份恢复",
    "letters.print": "打印信件",
    "letters.reprint": "重印信件",
    "calendar.add": "添加工作日历日期",
    "calendar.revoke": "撤销工作日历日期",
    "nhsa.export_2503": "导出国家平台认定备案(2503)",
    "nhsa.export_2504": "导出国家平台认定撤销(2504)",
    "nhsa.send_2503": "报送国家平台认定备案(2503)",
    "nhsa.send_2504": "报送国家平台认定撤销(2504)",
    "nhsa.import_serials": "导入国家平台备案流水号",
    "nhsa.import_psn_no": "导入国家平台人员编号",
    "nhsa.import_1309": "导入国家病种目录(1309)",
    "nhsa.reconcile_5301": "国家平台对账(5301)",
    "keys.rotate": "轮换加密密钥",
    "keys.rotate_lookup": "轮换查找密钥",
    "keys.reencrypt": "重新加密数据",
    "keys.retire": "停用旧密钥",
    "audit.anchor_refused": "审计锚点写入被拒绝",
}

# Object types are table names (``audit()`` takes them from the model).
OBJECT_TYPES: dict[str, str] = {
    "applications": "申请",
    "application_diseases": "申请病种",
    "decisions": "审核决定",
    "materials": "申请材料",
    "application_events": "办理记录",
    "recognitions": "认定",
    "users": "用户",
    "user_sessions": "登录会话",
    "api_tokens": "接口令牌",
    "benefit_settlements": "门特结算",
    "inpatient_stays": "住院登记",
    "benefit_recoveries": "待遇追回",
    "recovery_outcomes": "待遇追回结果",
    "insured_category_changes": "待遇类别变更",
    "chosen_institutions": "选定医院",
    "notices": "消息",
    "notice_deliveries": "短信与信件",
    "queue_failures": "失败的后台任务",
    "background_tasks": "后台生成任务",
    "calendar_days": "工作日历",
    "nhsa_filings": "国家平台报送",
    "nhsa_imports": "国家平台导入",
    "nhsa_disease_codes": "国家病种目录",
    "verification_codes": "核验码",
    "audit_log": "审计记录",
    "audit_anchors": "审计锚点",
    "job_runs": "定时任务",
    "job_locks": "定时任务锁",
    "login_throttles": "登录限制",
    "idempotency_keys": "防重复提交记录",
}

RESULTS: dict[str, str] = {
    "ok": "成功",
    "fail": "失败",
    "failed": "失败",
    "error": "出错",
    "duplicate": "重复(已存在)",
    "not_found": "未找到",
    "locked": "已锁定(尝试过多)",
    "disabled": "账号已停用",
    "started": "已开始",
}


def action_label(code: str | None) -> str:
    return ACTIONS.get(code or "", code or "")


def object_type_label(code: str | None) -> str:
    return OBJECT_TYPES.get(code or "", code or "")


def result_label(code: str | None) -> str:
    return RESULTS.get(code or "", code or "")


def action_choices() -> list[tuple[str, str]]:
    """(code, label) for the filter's select, grouped by subject as written above."""
    return list(ACTIONS.items())
