"""SMS notices: queue a delivery for people who chose SMS and have a phone number.

Sending happens in the ``deliver_notices`` job through the ``mtkit_sms_send`` hook (a bureau's
gateway plugin, or the log-file adapter in ``plugins/sms_log.py``).
"""
from core import hookimpl


@hookimpl
def mtkit_notify(notice):
    from core.extensions import db
    from core.models import User
    from core.services.notices import queue_delivery

    person = db.session.get(User, notice.user_id)
    if person is None or person.role != "insured" or not person.notice_sms or not person.phone:
        return None
    queue_delivery(notice, "sms")
    return "sms"
