"""Grafana dashboards as code, and the checks that keep them honest.

`build` renders the four dashboards into infra/grafana/dashboards/*.json (what Grafana loads);
`sqlmacros` and `promql` turn panel queries into something a test can run or check against the
metrics the services really export (`exporters`).
"""
