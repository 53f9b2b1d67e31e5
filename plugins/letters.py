"""Printed letters: queue a delivery for people who chose letters and gave an address.

Letters wait as "pending" deliveries until window staff print them as one PDF batch
(``core/services/letters.py``), which marks them sent. Living elsewhere (异地就医), the letter goes
to the 异地 address.
"""
from core import hookimpl


@hookimpl
def mtkit_notify(notice):
    from core.extensions import db
    from core.models import User
    from core.services.notices import queue_delivery

    person = db.session.get(User, notice.user_id)
    if person is None or person.role != "insured" or not person.notice_letter:
        return None
    if not (person.remote_address or person.address):
        return None
    queue_delivery(notice, "letter")
    return "letter"
