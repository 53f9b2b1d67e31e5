"""gunicorn settings for mtkit (`make run` passes `-c gunicorn.conf.py`; gunicorn also reads this
file by itself when started from this folder). Bind address and worker count stay on the command
line. Keep this file small: every setting here applies to every deployment.
"""
import gunicorn.http.wsgi

# The `Server` response header: gunicorn writes "gunicorn" itself on every response (Flask cannot
# remove it). Name no server software or version, so a scanner learns nothing from it.
# gunicorn reads this module attribute when it builds each response.
gunicorn.http.wsgi.SERVER = "mtkit"
# The same name in the WSGI environ's SERVER_SOFTWARE (no version either).
gunicorn.http.wsgi.SERVER_SOFTWARE = "mtkit"

# Which X-Forwarded-* headers to believe is decided in one place, the app's MTKIT_PROXY_COUNT
# (Werkzeug's ProxyFix). gunicorn would otherwise trust X-Forwarded-Proto from 127.0.0.1 on its
# own, so a local client could claim HTTPS.
forwarded_allow_ips = ""

# Threads: a worker busy checking an upload (decoding images is CPU work that Pillow and qpdf do
# outside the GIL) or waiting for a decoding slot (core/applications/budget.py) still answers other
# requests, /healthz included, on its other threads.
worker_class = "gthread"
threads = 4


def child_exit(server, worker):
    """Prometheus multiprocess mode (core/ops/metrics.py): drop a dead worker's live gauges."""
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
