"""The deployment files under deploy/ agree with the app: unit files systemd accepts (pointing at this
checkout's programs), the multiprocess metrics folder emptied at each start, nginx letting the
largest request the app accepts reach it and keeping /metrics and /readyz off the public site."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from core.config import default_config

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = ("mtkit-web.service", "mtkit-worker.service", "mtkit-jobs.service", "mtkit-jobs.timer",
         "mtkit-backup.service", "mtkit-backup.timer")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze (a system tool) is not installed")
def test_systemd_units_verify_against_this_checkout(tmp_path):
    for name in UNITS:
        text = (DEPLOY / "systemd" / name).read_text("utf-8").replace("/srv/mtkit", str(ROOT))
        (tmp_path / name).write_text(text, "utf-8")
    done = subprocess.run(["systemd-analyze", "verify", *[str(tmp_path / n) for n in UNITS]],
                          capture_output=True, text=True, env={"SYSTEMD_LOG_LEVEL": "warning", "PATH": "/usr/bin:/bin"})
    assert (done.stdout + done.stderr).strip() == ""


def test_web_unit_empties_the_metrics_folder_at_each_start():
    unit = (DEPLOY / "systemd" / "mtkit-web.service").read_text("utf-8")
    [folder] = re.findall(r"^Environment=PROMETHEUS_MULTIPROC_DIR=(\S+)$", unit, re.M)
    [runtime] = re.findall(r"^RuntimeDirectory=(.+)$", unit, re.M)
    # systemd creates RuntimeDirectory= fresh under /run at start and removes it at stop.
    assert folder.removeprefix("/run/") in runtime.split()


def test_nginx_passes_the_largest_accepted_request_and_hides_the_probes(tmp_path):
    conf = (DEPLOY / "nginx" / "mtkit.conf").read_text("utf-8")
    [size] = re.findall(r"client_max_body_size (\d+)m;", conf)
    assert int(size) * 1024 * 1024 >= default_config(tmp_path)["MAX_CONTENT_LENGTH"]
    assert "location = /metrics { return 404; }" in conf and "location = /readyz  { return 404; }" in conf
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf  # one hop: MTKIT_PROXY_COUNT=1
    env = (DEPLOY / "mtkit.env.example").read_text("utf-8")
    assert "MTKIT_PROXY_COUNT=1" in env


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_site_parses(tmp_path):
    main = tmp_path / "nginx.conf"
    main.write_text(f"pid {tmp_path}/nginx.pid; error_log stderr; events {{}}\n"
                    f"http {{ access_log off; include {DEPLOY / 'nginx' / 'mtkit.conf'}; }}\n")
    done = subprocess.run(["nginx", "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True)
    # The certificate paths are the deployment's: a missing certificate is the only acceptable complaint.
    assert done.returncode == 0 or "fullchain.pem" in done.stderr, done.stderr
