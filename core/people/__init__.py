"""People: accounts (registration, staff, log-in, passwords), record-level scope, the one look-up of
a person by ID number, API tokens; their pages (log-in, registration, profile, the window's 代办
look-up), API and CLI."""
