"""The audit trail's tamper evidence: a keyed hash chain over every audit row, daily anchors, verification.

- ``seal``: every audit row is chained when its transaction commits (canonical form, HMAC keys, the lock).
- ``verify``: walks the chain and names the first row that does not match (``flask --app app audit verify``).
- ``anchors``: the chain's last row and hash at the end of each day, to print or export and keep outside.
- ``cli``: the ``audit`` command group.
"""
