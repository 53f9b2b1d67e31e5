"""PDF rendering with WeasyPrint: the app's own assets only, one font set-up per process, a disk cache.

Safety: a document's HTML is rendered from Jinja templates with autoescaping, so user data is
text, never markup. As a second wall, the URL fetcher serves only files under ``static/pdf/``
through a fixed, unresolvable origin; ``file://``, ``http(s)://`` elsewhere, ``data:`` and
everything else is refused (the resource is simply left out), and nothing is ever fetched over
the network or redirected.

Speed: CJK fonts are large; WeasyPrint subsets them with HarfBuzz (libharfbuzz-subset0, installed
by scripts/setup-system.sh). The font configuration is built once per process and reused, and so is
the forms' stylesheet (static/pdf/forms.css, parsed again only when the file changes): every
document gets it, so templates do not link it. Documents get mtkit's own small user-agent
stylesheet (static/pdf/ua.css: HTML defaults for the elements forms use) instead of WeasyPrint's
full one, whose selectors not keyed to a tag name are tried on every element (about 9% of a
form's work). The embedded font subset (about 250 KB before compression: WeasyPrint keeps glyph
ids) is deflated at zlib's default level 6 instead of pydyf's level 9, through WeasyPrint's
public ``finisher`` hook: about 4 ms less per document for a file well under 1% larger.
"""
from __future__ import annotations

import hashlib
import logging
import mimetypes
import threading
import zlib
from pathlib import Path

import pydyf
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from core.context import Context
from core.kernel.files import keep_newest
from core.kernel.objectstore import MissingObject, StorageError
from core.kernel.stores import open_store

log = logging.getLogger(__name__)

STATIC_FOLDER = Path(__file__).resolve().parents[2] / "static"  # the app's static folder
# Templates link assets relative to this origin (".invalid" can never resolve: RFC 2606).
ASSET_ORIGIN = "https://mtkit.invalid/"
ASSET_PREFIX = ASSET_ORIGIN + "static/pdf/"
ASSET_TYPES = {".css", ".png", ".jpg", ".svg", ".otf", ".ttf", ".woff", ".woff2"}

# WeasyPrint's font configuration and Pango are not safe to share between threads mid-render.
_LOCK = threading.Lock()
_FONT_CONFIG: FontConfiguration | None = None


class RefusedURL(ValueError):
    """A document asked for something other than the app's own PDF assets."""


class AssetFetcher(URLFetcher):
    """Serves ``static/pdf/*`` from disk; refuses every other URL. Keeps a list of refusals."""

    def __init__(self, static_root: Path):
        super().__init__(allow_redirects=False, fail_on_errors=False)
        self.root = (static_root / "pdf").resolve()
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        if not url.startswith(ASSET_PREFIX) or "?" in url or "#" in url or "%" in url:
            return self._refuse(url)
        path = (self.root / url[len(ASSET_PREFIX):]).resolve()
        if not path.is_relative_to(self.root) or path.suffix.lower() not in ASSET_TYPES or not path.is_file():
            return self._refuse(url)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, _asset_bytes(path, path.stat().st_mtime_ns), {"Content-Type": mime})

    def _refuse(self, url):
        self.refused.append(url[:200])
        log.warning("PDF: refused to load %r", url[:200])
        raise RefusedURL(f"refused: {url[:200]}")


_ASSET_CACHE: dict[tuple[Path, int], bytes] = {}
_STYLESHEET: dict[str, tuple[int, CSS]] = {}
FORMS_CSS = "forms.css"
UA_CSS = "ua.css"


class FormHTML(HTML):
    """An HTML document that WeasyPrint styles with mtkit's user-agent stylesheet.

    WeasyPrint has no public option for this; it asks the document for its user-agent sheets
    through ``_ua_stylesheets`` (WeasyPrint is pinned in requirements.txt, and
    tests/test_documents.py fails if the hook goes away).
    """

    ua_sheet: CSS | None = None

    def _ua_stylesheets(self, forms=False):
        if self.ua_sheet is None or forms:
            return super()._ua_stylesheets(forms)
        return [self.ua_sheet]


def _asset_bytes(path: Path, mtime_ns: int) -> bytes:
    key = (path, mtime_ns)
    if key not in _ASSET_CACHE:
        _ASSET_CACHE[key] = path.read_bytes()
    return _ASSET_CACHE[key]


def html_to_pdf(html: str, fetcher: AssetFetcher | None = None) -> bytes:
    """Render an HTML string (already escaped by Jinja) to PDF bytes (assets: the app's static/pdf)."""
    global _FONT_CONFIG
    fetcher = fetcher or AssetFetcher(STATIC_FOLDER)
    with _LOCK:
        if _FONT_CONFIG is None:
            _FONT_CONFIG = FontConfiguration()
        document = FormHTML(string=html, base_url=ASSET_ORIGIN, url_fetcher=fetcher)
        document.ua_sheet = _stylesheet(fetcher, UA_CSS)
        return document.write_pdf(
            stylesheets=[_stylesheet(fetcher, FORMS_CSS)], font_config=_FONT_CONFIG, finisher=_deflate_fonts_fast
        )


FAST_DEFLATE_LEVEL = 6
FAST_DEFLATE_MIN_BYTES = 64 * 1024


def _deflate_fonts_fast(document, pdf: pydyf.PDF) -> None:
    """Deflate large binary streams (the embedded font files) at zlib level 6, not pydyf's 9.

    Called by WeasyPrint after the PDF objects are built and before they are written: a stream
    that is one block of bytes is compressed here and marked as already filtered, so pydyf writes
    it as it is. Level 9 spends three times as long on the font for 1% smaller output.
    """
    for obj in pdf.objects:
        if not isinstance(obj, pydyf.Stream) or not obj.compress or len(obj.stream) != 1:
            continue
        raw = obj.stream[0]
        if not isinstance(raw, bytes) or len(raw) < FAST_DEFLATE_MIN_BYTES or "Filter" in obj.extra:
            continue
        obj.stream = [zlib.compress(raw, FAST_DEFLATE_LEVEL)]
        obj.compress = False
        obj.extra["Filter"] = "/FlateDecode"


def forms_css_path(static_folder) -> Path:
    return Path(static_folder) / "pdf" / FORMS_CSS


def _stylesheet(fetcher: AssetFetcher, name: str) -> CSS:
    """static/pdf/<name>, parsed once per process (and again when the file changes)."""
    path = fetcher.root / name
    mtime = path.stat().st_mtime_ns
    cached = _STYLESHEET.get(str(path))
    if cached is None or cached[0] != mtime:
        sheet = CSS(string=path.read_text("utf-8"), base_url=ASSET_PREFIX, url_fetcher=fetcher, font_config=_FONT_CONFIG)
        _STYLESHEET[str(path)] = cached = (mtime, sheet)
    return cached[1]


def render_html(ctx: Context, template_name: str, context: dict) -> str:
    """A document's HTML from the app's Jinja environment (autoescaped; filters such as cn_date)."""
    return ctx.templates.get_template(template_name).render(**context)


def render_pdf(ctx: Context, template_name: str, context: dict) -> bytes:
    """Render a Jinja template to PDF (no cache)."""
    return html_to_pdf(render_html(ctx, template_name, context), AssetFetcher(Path(ctx.static_folder)))


def cached_pdf(ctx: Context, key: str, template_name: str, context: dict) -> bytes:
    """Render through the cache (MTKIT_PDF_CACHE_DIR, or ``pdf-cache/`` in the S3 bucket).

    ``key`` names the record and its version (e.g. ``application-12-v7``); the file name also
    carries a digest of the HTML, so a change that does not bump the version (a new template, a
    renamed hospital) still gives a fresh document and the cache can never serve a stale one.
    A cache that cannot be reached only costs a render: printing never fails because of it.
    """
    html = render_html(ctx, template_name, context)
    digest = hashlib.sha256(html.encode("utf-8")).hexdigest()[:24]
    folder = Path(ctx.settings["MTKIT_PDF_CACHE_DIR"])
    cache = open_store(ctx.settings, "pdf-cache", folder)
    name = f"{_safe_key(key)}-{digest}.pdf"
    try:
        return cache.get(name)
    except MissingObject:
        pass
    except StorageError as e:
        log.warning("pdf cache unavailable, rendering %s: %s", name, e)
    data = html_to_pdf(html, AssetFetcher(Path(ctx.static_folder)))
    try:
        cache.put(name, data)
    except StorageError as e:
        log.warning("pdf cache unavailable, %s not kept: %s", name, e)
    if cache.local_path(name) is not None:  # in a bucket, a lifecycle rule expires the cache instead
        keep_newest(folder, "*.pdf", ctx.settings["MTKIT_PDF_CACHE_FILES"])
    return data


def _safe_key(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in key)[:80]
