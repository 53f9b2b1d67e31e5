"""The default SMS adapter: writes each message to a log file instead of a gateway.

A bureau replaces it by implementing ``mtkit_sms_send`` in its own plugin (this one runs last).
The file is ``MTKIT_SMS_LOG`` (default ``instance/sms.log``, mode 0600); phone numbers are written masked.
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import current_app

from core import SmsResult, hookimpl
from core.kernel.files import append_private
from core.kernel.time import utcnow
from core.people.identity import mask_phone


@hookimpl(trylast=True)
def mtkit_sms_send(phone, text, ref):
    path = Path(current_app.config["MTKIT_SMS_LOG"])
    line = json.dumps({"at": utcnow().isoformat(), "ref": ref, "to": mask_phone(phone), "text": text}, ensure_ascii=False)
    append_private(path, line + "\n")  # 0600: the texts name people and their benefits
    return SmsResult(True, f"已写入短信日志 {path.name}")
