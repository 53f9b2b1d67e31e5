"""Staff's landing pages: the work queues, the overview, late work per office and reviewer
(超时督办) and the audit trail."""
