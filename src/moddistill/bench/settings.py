"""What the benchmark scripts accept, typed: ``scripts/benchmark.py`` and ``scripts/benchmark_runtimes.py``."""

from __future__ import annotations

from moddistill.settings import ExistingDir, ExistingFile, PositiveInt, Settings, Text, TextList


class BenchmarkSettings(Settings):
    experiment: Text
    train_overrides: TextList
    cases: ExistingFile
    batch_size: PositiveInt
    latency_samples: PositiveInt


class BenchmarkRuntimesSettings(Settings):
    export_dir: ExistingDir
    cases: ExistingFile
    listings: ExistingFile
    batch_size: PositiveInt
    latency_samples: PositiveInt
    repeats: PositiveInt
