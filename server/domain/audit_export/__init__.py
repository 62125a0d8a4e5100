"""Reading the audit trail out: ranges as JSON lines, and the history of the keys."""
