"""Monthly assessment (考核) and audits of the ledger.

Layers: ``extract`` reads the ledger into pandas frames; ``trail``/``facts`` derive per-case and
per-event facts with the counting rules of docs/assessment.md; ``kpi`` turns counts into rates;
``scheme``/``scoring`` weight them into scores, ranks and flags; ``reports`` render them;
``audit`` checks the data behind them with Great Expectations.
"""
