"""Text as people and files type it: one normalisation for identifiers and codes, one check for
names and free text. Pure (no database, no Flask), so pages, the API, the CLI and imports share it.

Identifiers (ID numbers, phones, 人员编号, practitioner, disease, institution and region codes, log-in
names) are NFKC-normalised, so full-width ``４５０６…`` becomes ASCII ``4506…``, then checked with
ASCII-only patterns: Python's ``\\d`` and ``str.isdigit`` accept every script's digits (Arabic-Indic
``٤٥٠٦…`` too), which is how one ID number could be registered twice in forms that look identical.

Names and free text keep what people typed but may not hide anything: bidi controls (U+202A–U+202E,
U+2066–U+2069, U+200E/U+200F, U+061C), zero-width characters (U+200B–U+200D, U+2060, U+FEFF) and
every other format (Cf) or control (Cc) character are refused, with a message naming the field.
Multi-line text may hold line breaks and tabs. The Chinese name separator ``·`` (U+00B7) is ordinary.
"""
from __future__ import annotations

import re
import unicodedata

from core.kernel.errors import Invalid

# Codes exchanged with other systems: ASCII letters, digits and . _ - only.
ASCII_CODE = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)
MULTILINE_OK = frozenset("\n\r\t")
# Line and paragraph separators (Zl, Zp) break a line without being a control character.
_SEPARATORS = frozenset("\u2028\u2029\x85")


def nfkc(value) -> str:
    """NFKC form of ``value`` (None -> ""): full-width letters and digits become ASCII."""
    return unicodedata.normalize("NFKC", value) if isinstance(value, str) else ("" if value is None else str(value))


def identifier(value) -> str:
    """An identifier as stored and compared: NFKC, no spaces anywhere, letters upper-case
    (the ID number's check character ``x`` -> ``X``)."""
    return "".join(nfkc(value).split()).upper()


def code(value) -> str:
    """A code (disease, institution, division, 人员编号, practitioner): NFKC and stripped, case kept."""
    return nfkc(value).strip()


def is_ascii_code(value: str, max_len: int = 30) -> bool:
    return 0 < len(value) <= max_len and ASCII_CODE.fullmatch(value) is not None


def hidden_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character ``text`` may not contain (invisible, bidi, control), or None."""
    for ch in text:
        if multiline and ch in MULTILINE_OK:
            continue
        if ch in _SEPARATORS or unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            return ch
    return None


def text_problem(value, label: str, *, multiline: bool = False) -> str | None:
    """A Chinese message naming the field when ``value`` hides characters, else None."""
    if not isinstance(value, str) or not value:
        return None
    if hidden_character(value, multiline=multiline) is not None:
        return f"「{label}」含有不可见或控制字符,请重新输入。"
    return None


def clean_text(value, label: str, *, field: str | None = None, multiline: bool = False) -> str:
    """``value`` stripped, or Invalid naming the field when it hides characters. Names should
    be passed through ``nfkc`` first (the caller decides; free text is kept as typed)."""
    problem = text_problem(value, label, multiline=multiline)
    if problem:
        raise Invalid(problem, fields={field: problem} if field else None)
    return (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()


def clean_name(value, label: str = "姓名", *, field: str | None = "name") -> str:
    """A person's name: NFKC (full-width Latin letters become ASCII; ``·`` stays), stripped, checked."""
    return clean_text(nfkc(value), label, field=field)


# --- joining sentences ------------------------------------------------------------------------------
# Texts are often joined from pieces that end in their own punctuation (a reviewer's note, a region's
# material note, a notice template): "…门诊病历。" + "。请于…" must not read 门诊病历。。请于.
_SOFT_ENDS = ",;:\u3001\uff0c\uff1b\uff1a"  # , ; : 、 and their full-width forms
_ENDS = ".!?\u3002\uff01\uff1f\u2026"  # . ! ? 。 ！ ？ …
# A run of two or more marks where one was meant (never "..." or "……", which are not in the set).
_MARKS = "\u3002\uff0c\uff1b\uff1a\u3001\uff01\uff1f,;:!?"
_MARK_RUN = re.compile(f"[{re.escape(_MARKS)}]{{2,}}")
# Which one of a run to keep: the strongest ending.
_STRENGTH = {ch: i for i, ch in enumerate("\u3001,\uff0c:\uff1a;\uff1b\u3002?\uff1f!\uff01")}


def sentence(text) -> str:
    """``text`` ending as one sentence: trailing commas, semicolons and colons dropped, 。 added
    unless it already ends with 。!? (or an ellipsis); "" stays ""."""
    text = (text or "").strip().rstrip(_SOFT_ENDS).rstrip()
    if not text or text[-1] in _ENDS:
        return text
    return text + "。"


def tidy(text) -> str:
    """``text`` without doubled punctuation (。。 ,, 。, …): each run of marks becomes its strongest."""
    if not text:
        return text or ""
    return _MARK_RUN.sub(lambda m: max(m.group(0), key=lambda ch: _STRENGTH.get(ch, 0)), text)
