"""Upload each hand-made hostile PDF (tests/test_upload_hardening.py) to a running server (SQLite),
then run `pdfinfo -js` on the original, the stored file and the download, and look for the marker.

    .venv/bin/python bench/upload_hostile_pdfs.py http://127.0.0.1:5000 150102195503120244 \
        instance/mtkit.sqlite3 instance/uploads
"""
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.test_upload_hardening import HOSTILE, MARK  # noqa: E402

base, user, db, uploads = sys.argv[1:5]
s = requests.Session()
page = s.get(base + "/login").text
csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
s.post(base + "/login", data={"csrf_token": csrf, "username": user, "password": "Demo1234"})
tok = requests.post(base + "/api/v1/auth/token", json={"username": user, "password": "Demo1234"}).json()["token"]
h = {"Authorization": "Bearer " + tok}
app_id = next(a["id"] for a in requests.get(base + "/api/v1/applications", headers=h).json()["items"] if a["status"] == "draft")
item = requests.get(base + f"/api/v1/applications/{app_id}", headers=h).json()["materials"][0]
tmp = Path(tempfile.mkdtemp())
for case, data in HOSTILE.items():
    src = tmp / "src.pdf"
    src.write_bytes(data)
    before = MARK in subprocess.run(["pdfinfo", "-js", str(src)], capture_output=True, text=True).stdout
    r = requests.post(base + f"/api/v1/applications/{app_id}/materials", headers=h,
                      data={"disease": item["disease"], "material": item["code"]},
                      files={"file": ("诊断书.pdf", data, "application/pdf")})
    if r.status_code != 201:
        print(f"{case}: {r.status_code} {r.json()['error']['message']}")
        continue
    mid = r.json()["items"][0]["id"]
    sha = sqlite3.connect(db).execute("select sha256 from materials where id=?", (mid,)).fetchone()[0]
    stored = Path(uploads) / sha[:2] / sha
    dl = s.get(base + f"/materials/{mid}")
    got = tmp / "dl.pdf"
    got.write_bytes(dl.content)
    js_stored = subprocess.run(["pdfinfo", "-js", str(stored)], capture_output=True, text=True)
    js_dl = subprocess.run(["pdfinfo", "-js", str(got)], capture_output=True, text=True)
    text = subprocess.run(["pdftotext", str(got), "-"], capture_output=True, text=True).stdout.strip()
    print(f"{case}: upload 201, download {dl.status_code} (same bytes as stored: {dl.content == stored.read_bytes()}); "
          f"marker in pdfinfo -js: original {before}, stored {MARK in js_stored.stdout}, download {MARK in js_dl.stdout}; "
          f"marker in stored bytes {MARK.encode() in stored.read_bytes()}; text {text!r}")
