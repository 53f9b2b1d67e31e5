"""SMS notices: people who chose SMS and have a phone number get each notice by SMS too.

The core queues the delivery; the ``deliver_notices`` job sends it through the ``mtkit_sms_send``
hook (a bureau's gateway plugin, or the log-file adapter in ``plugins/sms_log.py``).
"""
from core import hookimpl


@hookimpl
def mtkit_notify(notice, person):
    if person is None or person.role != "insured" or not person.notice_sms or not person.phone:
        return None
    return "sms"
