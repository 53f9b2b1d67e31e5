"""Printed documents: safe PDF rendering and its cache, the four printed forms filled from a record,
blank forms, the public check of a notice's verification code."""
