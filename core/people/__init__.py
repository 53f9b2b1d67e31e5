"""People: accounts (registration, staff, passwords), log-in throttling (``login``), password rules
(``passwords``), server-side sessions (``sessions``), record-level scope, the one look-up of a person
by ID number, API tokens, 账号管理 for administrators (``admin``); their pages (log-in,
registration, profile and its sessions, the window's 代办 look-up, /staff/users), API and CLI."""
