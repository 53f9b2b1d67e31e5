"""The outpatient 门特 benefit ledger: money, input, the pure calculation, the ledger (load, lock,
settle, reverse), presentation, inpatient stays and chosen institutions, CSV import; 我的待遇 and
门特结算 pages, the balances/estimate API and the import CLI."""
