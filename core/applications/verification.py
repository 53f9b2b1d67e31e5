"""Verification codes on decision notices.

A code is 16 random characters (80 bits, Crockford base32: no I, L, O or U to misread), issued
once per decided application. The row keeps what the public page shows (masked name, diseases,
decisions, validity) as it stood at the decision, signed with an HMAC of the instance's verification
key (MTKIT_VERIFICATION_KEY or instance/verification_key; not SECRET_KEY, which may be rotated).

- A forged notice: its code is not on record (guessing one of 2^80 codes is hopeless).
- An altered notice (dates or diseases changed on paper): the public page shows the true ones.
- An altered row in the database: the signature no longer matches, and the page says so.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets

import segno
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.audit import audit
from core.context import Context
from core.extensions import db
from core.kernel.text import nfkc
from core.kernel.time import local_date
from core.models import Application, VerificationCode
from core.people.identity import mask_name
from core.recognitions.service import of_application

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
# What people type for characters that are not in the alphabet.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def pretty(code: str) -> str:
    """ABCD-EFGH-JKMN-PQRS: easier to read aloud and to type."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise(text: str | None) -> str | None:
    """What a person typed or scanned -> a code, or None if it cannot be one."""
    if not text:
        return None
    # NFKC: a code typed with a full-width keyboard reads as the ASCII one; nothing else is accepted.
    cleaned = "".join(ch for ch in nfkc(text).upper() if ch not in " -_\t\r\n").translate(_LOOKALIKES)
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


def payload_for(ctx: Context, app: Application) -> dict:
    """The facts a notice certifies, in the form the public page shows them."""
    recs = of_application(app.id)
    info = ctx.regions.get(app.region_code)
    diseases = []
    for ad in app.diseases:
        rec = recs.get(ad.disease_code)
        diseases.append(
            {
                "name": ad.disease_name,
                "result": ad.result_name,
                "start": rec.start_date.isoformat() if rec else None,
                "end": rec.end_date.isoformat() if rec else None,
            }
        )
    decided = local_date(app.decided_at, ctx.regions.timezone(app.region_code)) if app.decided_at else None
    return {
        "reference": app.reference,
        "region": info.name if info else app.region_code,
        "issuer": (info.issuer if info else "") or "",
        "name": mask_name(app.person.name),
        "kind": app.kind_name,
        "decided_on": decided.isoformat() if decided else None,
        "diseases": diseases,
    }


def sign(ctx: Context, code: str, application_id: int, payload: dict) -> str:
    key = hashlib.sha256(("mtkit-verification:" + ctx.settings["MTKIT_VERIFICATION_KEY"]).encode()).digest()
    message = json.dumps([code, application_id, payload], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def issue(ctx: Context, app: Application) -> VerificationCode:
    """The application's code, issued on first call (at the decision). Safe under concurrent calls."""
    existing = db.session.scalar(select(VerificationCode).where(VerificationCode.application_id == app.id))
    if existing is not None:
        return existing
    payload = payload_for(ctx, app)
    code = new_code()
    row = VerificationCode(code=code, application_id=app.id, payload=payload, signature=sign(ctx, code, app.id, payload))
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Another request issued it first (unique application_id): use theirs.
        return db.session.scalar(select(VerificationCode).where(VerificationCode.application_id == app.id))
    return row


def check(ctx: Context, text: str | None) -> tuple[str, dict | None]:
    """Look a typed code up. Returns (outcome, payload): outcome is "genuine", "unknown",
    "malformed" or "tampered" (the stored record no longer matches its signature, which is audited)."""
    code = normalise(text)
    if code is None:
        return "malformed", None
    row = db.session.scalar(select(VerificationCode).where(VerificationCode.code == code))
    if row is None:
        return "unknown", None
    if not hmac.compare_digest(row.signature, sign(ctx, row.code, row.application_id, row.payload)):
        audit(ctx, "verification.tampered", None, result="failed", detail=f"code={code}")
        return "tampered", None
    return "genuine", row.payload


def qr_svg(url: str) -> Markup:
    """Inline SVG QR code (no image fetch, so the PDF fetcher has nothing to load)."""
    qr = segno.make(url, error="m")
    return Markup(qr.svg_inline(scale=1, border=2, omitsize=True))
