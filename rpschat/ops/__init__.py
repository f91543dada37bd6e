"""What an operator needs: readiness (/readyz), Prometheus metrics (/metrics), usable logs.

`routes.install` is what app.py calls; `counters` is imported by the transport's hot path, so
this package imports nothing by itself.
"""
