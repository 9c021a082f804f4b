"""What the evaluation scripts accept, typed: ``evaluate.py``, ``leaderboard.py``, ``benchmark_thresholds.py``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from moddistill.data.policy import PolicySettings
from moddistill.errors import UserError
from moddistill.metrics.thresholds import ThresholdRule
from moddistill.settings import (
    Count,
    ExistingDir,
    ExistingFile,
    Fraction,
    Int,
    PositiveInt,
    Settings,
    Text,
    TextList,
    wanted,
)


class EvaluateSettings(Settings):
    policy: PolicySettings
    checkpoint: ExistingDir | None
    teacher_labels: ExistingFile | None
    policy_cases: ExistingFile | None
    thresholds: Literal["validation"] | Fraction = wanted("'validation' or a number in [0, 1]")
    batch_size: PositiveInt
    output_dir: Text | None


class LeaderboardSettings(Settings):
    root: ExistingDir
    output: Text
    bootstrap: Count
    seed: Int
    cases: Text | None
    exclude: TextList


def _threshold_rule(text: str) -> str:
    try:
        ThresholdRule.parse(text)
    except UserError as e:
        raise PydanticCustomError("moddistill", str(e).split(": ", 1)[1]) from None
    return text


ThresholdRuleText = Annotated[str, AfterValidator(_threshold_rule)]


class BenchmarkThresholdsSettings(Settings):
    runs: TextList
    cases: Text
    rules: list[ThresholdRuleText]

