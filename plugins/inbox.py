"""The in-app inbox: always delivers, because the notice row itself is the inbox entry."""
from core import hookimpl


@hookimpl
def mtkit_notify(notice, person):
    return "inbox"
