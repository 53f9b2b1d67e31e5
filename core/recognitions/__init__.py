"""Recognitions (认定): created from decisions, who holds one when, coverage on a day, when renewal is
possible, ending after a failed renewal, expiry; 我的认定 and the renewal page."""
