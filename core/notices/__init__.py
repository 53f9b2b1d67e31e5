"""Notices to people: the inbox, channel plugins (SMS, letters), sending and retrying SMS, printed
letter batches; the inbox and the administrators' delivery pages."""
