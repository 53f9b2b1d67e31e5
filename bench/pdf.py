"""PDF form speed: mtkit's rendering of filled forms against bare WeasyPrint on the same HTML.

    .venv/bin/python bench/pdf.py               # 30 renders of each form
    .venv/bin/python bench/pdf.py --runs 60

Seeds the demo into a temporary SQLite database, takes a decided application in each region and,
for every form, times:
- mtkit: core.documents.pdf.render_pdf (template -> HTML -> PDF through the assets-only fetcher,
  cache bypassed): what a first download of a document costs. It differs from bare WeasyPrint
  only in how it drives it: font configuration and stylesheets made once per process, mtkit's
  small user-agent stylesheet (static/pdf/ua.css), the font file deflated at zlib level 6;
- bare:  weasyprint.HTML(string=<the same HTML>).write_pdf(stylesheets=[static/pdf/forms.css]) with
  WeasyPrint's own defaults (its own fetcher, the stylesheet parsed and a new font configuration
  made each time);
- cached: the download path when the document is unchanged (core.documents.pdf.cached_pdf).
Prints medians in milliseconds, the ratio mtkit/bare and the page count. Not a test: figures
depend on the machine. Targets (issue 3): median <= 100 ms and ratio <= 1.3.
"""
from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import flask_migrate  # noqa: E402
from pypdf import PdfReader  # noqa: E402
from sqlalchemy import select  # noqa: E402
from weasyprint import HTML  # noqa: E402

from app import create_app  # noqa: E402
from core import demo  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import Application  # noqa: E402
from core.context import for_app  # noqa: E402
from core.documents import printed_forms as forms  # noqa: E402
from core.documents.pdf import cached_pdf, forms_css_path, html_to_pdf, render_html  # noqa: E402


def interleaved(fns: dict, runs: int) -> dict:
    """Median wall-clock and CPU milliseconds of each function, run in turns so that a busy
    machine slows them alike."""
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
    return {name: (statistics.median(wall[name]) * 1000, statistics.median(cpu[name]) * 1000) for name in fns}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    tmp = Path(tempfile.mkdtemp())
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bench.sqlite3'}",
        "SECRET_KEY": "bench",
        "MTKIT_UPLOAD_DIR": str(tmp / "uploads"),
        "MTKIT_PDF_CACHE_DIR": str(tmp / "pdf-cache"),
    })
    static = Path(app.static_folder).resolve().as_uri() + "/../"
    forms_css = str(forms_css_path(app.static_folder))
    with app.app_context():
        flask_migrate.upgrade()
        demo.seed(for_app(app))
        db.session.commit()
        staff = {r: demo_user(r) for r in ("nmg_yibao", "fcg_review")}
        rows = []
        for region, user in (("150000", staff["nmg_yibao"]), ("450600", staff["fcg_review"])):
            app_row = db.session.scalars(
                select(Application).where(Application.region_code == region, Application.status == "partial")
            ).first()
            for link in forms.forms_for(app_row, user):
                with app.test_request_context("/"):
                    ctx = for_app(app, user, public_url="http://localhost")
                    context = forms._context(ctx, app_row, link.form)
                    template = ctx.regions.pdf_template(region, link.form)
                    html = render_html(ctx, template, context)
                    html_to_pdf(html)  # warm the font set-up once, as a running server has
                    key = f"bench-{link.form}-{app_row.id}"
                    cached_pdf(ctx, key, template, context)
                    figures = interleaved({
                        "mtkit": lambda: html_to_pdf(render_html(ctx, template, context)),
                        "bare": lambda: HTML(string=html, base_url=static).write_pdf(stylesheets=[forms_css]),
                        "cached": lambda: cached_pdf(ctx, key, template, context),
                    }, args.runs)
                    pages = len(PdfReader(_bytes_io(html_to_pdf(html))).pages)
                rows.append((region, link.title, pages, figures))
        db.session.rollback()

    print(f"PDF forms, median of {args.runs} renders each, milliseconds wall-clock (CPU time in brackets)")
    print(f"{'region':7} {'form':26} {'pages':>5} {'mtkit':>15} {'bare WeasyPrint':>16} {'ratio':>6} {'cached':>7}")
    for region, title, pages, f in rows:
        (mw, mc), (bw, bc), (cw, _) = f["mtkit"], f["bare"], f["cached"]
        print(f"{region:7} {title:20} {pages:>5} {mw:7.1f} ({mc:5.1f}) {bw:8.1f} ({bc:5.1f}) {mw / bw:6.2f} {cw:7.2f}")
    worst = max(f["mtkit"][0] for *_, f in rows)
    worst_ratio = max(f["mtkit"][0] / f["bare"][0] for *_, f in rows)
    print(f"slowest median {worst:.1f} ms (target <= 100); worst ratio {worst_ratio:.2f} (target <= 1.3)")


def demo_user(username):
    from core.models import User

    return db.session.scalar(select(User).where(User.username == username))


def _bytes_io(data: bytes):
    import io

    return io.BytesIO(data)


if __name__ == "__main__":
    main()
