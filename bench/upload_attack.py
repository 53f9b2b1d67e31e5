"""Issue 12 item 2 against a running server: two concurrent uploads of N 6300x6300 PNGs each (by one
account, or one each by two), through the API, while /healthz is polled; prints status codes and timings.

    .venv/bin/python bench/upload_attack.py http://127.0.0.1:5000 150102195503120244 10
    .venv/bin/python bench/upload_attack.py http://127.0.0.1:5000 150102195503120244,450602195807040268 3

Demo accounts (password Demo1234) with a draft or returned application. ``requests`` comes with
the test dependencies (schemathesis).
"""
import io
import sys
import threading
import time

import requests
from PIL import Image

base = sys.argv[1]
users = sys.argv[2].split(",")  # one account: both requests by it; two: one each
count = int(sys.argv[3]) if len(sys.argv) > 3 else 10  # images per request
pngs = []
for i in range(count):
    im = Image.new("RGB", (6300, 6300), (200, 30 + i, 30))
    im.putpixel((i, i), (0, 0, 0))
    out = io.BytesIO()
    im.save(out, "PNG")
    pngs.append(out.getvalue())
print("request size: %.2f MB" % (sum(map(len, pngs)) / 1e6))

def token(user):
    r = requests.post(base + "/api/v1/auth/token", json={"username": user, "password": "Demo1234"})
    return r.json()["token"]

def draft(tok):
    h = {"Authorization": "Bearer " + tok}
    apps = requests.get(base + "/api/v1/applications", headers=h).json()["items"]
    for a in apps:
        if a["status"] in ("draft", "returned"):
            d = requests.get(base + f"/api/v1/applications/{a['id']}", headers=h).json()
            for item in d["materials"]:
                return a["id"], item["disease"], item["code"], h
    raise SystemExit("no draft for " + str(apps))

targets = [draft(token(u)) for u in (users if len(users) > 1 else users * 2)]
results = []
def up(n, target):
    app_id, disease, code, h = target
    files = [("file", (f"p{i}.png", pngs[i], "image/png")) for i in range(count)]
    t = time.monotonic()
    try:
        r = requests.post(base + f"/api/v1/applications/{app_id}/materials", headers=h,
                          data={"disease": disease, "material": code}, files=files, timeout=120)
        body = r.text[:160].replace("\n", " ")
        results.append((n, r.status_code, round(time.monotonic() - t, 2), body))
    except Exception as e:
        results.append((n, "error", round(time.monotonic() - t, 2), repr(e)[:160]))

health = []
stop = False
def poll():
    while not stop:
        t = time.monotonic()
        try:
            code = requests.get(base + "/healthz", timeout=120).status_code
        except Exception as e:
            code = repr(e)[:60]
        health.append((round(time.monotonic() - t, 2), code))
        time.sleep(0.25)

p = threading.Thread(target=poll)
p.start()
time.sleep(0.5)
threads = [threading.Thread(target=up, args=(n, targets[n])) for n in range(2)]
t0 = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join()
total = round(time.monotonic() - t0, 2)
time.sleep(1)
stop = True
p.join()
for r in sorted(results, key=str):
    print("upload", r)
print("both answered after", total, "s")
lat = [h[0] for h in health]
print("healthz: %d polls, max %.2f s, median %.2f s, codes %s" % (len(lat), max(lat), sorted(lat)[len(lat)//2], sorted({str(h[1]) for h in health})))
