"""Scheduled jobs: the runner (leases, run records), the schedule, and the job bodies (renewal
reminders, expiry sweep, deadline digests, SMS sending), each calling the features' services."""
