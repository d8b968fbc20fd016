"""Audits of the ledger data behind the scores (Great Expectations suites as code)."""
