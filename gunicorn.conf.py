"""gunicorn settings (gunicorn reads ./gunicorn.conf.py; `make run` passes -w and -b itself).

Threads: a worker busy checking an upload (decoding images is CPU work that Pillow and qpdf do
outside the GIL) or waiting for a decoding slot (core/applications/budget.py) still answers other
requests, /healthz included, on its other threads.
"""
worker_class = "gthread"
threads = 4
