"""Printed letters: people who chose letters and gave an address get each notice on paper too.

The core queues the delivery as "pending" until window staff print it in a batch
(``core/notices/letters.py``), which marks it sent. Living elsewhere (异地就医), the letter goes to
the 异地 address.
"""
from core import hookimpl


@hookimpl
def mtkit_notify(notice, person):
    if person is None or person.role != "insured" or not person.notice_letter:
        return None
    if not (person.remote_address or person.address):
        return None
    return "letter"
