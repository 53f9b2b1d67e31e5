"""Operations: readiness checks (``readiness.py``), Prometheus metrics (``metrics.py``) and their
endpoints /readyz and /metrics (``web.py``). /healthz (liveness) stays in core/web/public.py."""
