"""Interchange with the national medical-insurance platform: 2503/2504 filings, serials, 人员编号,
the 1309 catalogue with code history, the 5301 reconcile; the administrators' page and the CLI."""
