"""Engines: where predict, label and moderate run. ``engine=local`` is the single process the scripts always had;
``engine=ray`` maps a job's worker over a directory of shards as a Ray Data job (``core.py``). This room knows
shards, resume, retries and summaries, never what a worker does: the workers live in the rooms that own the work
(``serving/engines.py``, ``teacher/sharded.py``, ``fusion/sharded.py``)."""
