"""The expert console: a local web app where experts decide the listings the loop sends them (moderate.py's expert
rows, audit.py samples, select_batch.py batches), a SQLite store of their verdicts, a KPI dashboard, and a Label
Studio adapter. The web stack is the ``review`` extra; this package imports it only in ``app.py``."""
