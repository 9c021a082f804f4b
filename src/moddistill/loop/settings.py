"""The closed loop's configs, typed: ``scripts/select_batch.py``, ``audit.py``, ``drift.py`` and ``loop_sim.py``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from moddistill.data.policy import PolicySettings
from moddistill.serving.settings import ScoreSettings
from moddistill.settings import (
    Bool,
    Count,
    ExistingDir,
    ExistingFile,
    ExistingFiles,
    Fraction,
    Int,
    PositiveInt,
    Settings,
    Text,
    TextList,
)

# the listings nearest a threshold | where the student and the teacher disagree most | a uniform sample
SELECTION_STRATEGIES = ("uncertainty", "disagreement", "random")
Similarity = Annotated[float, Field(gt=0, le=1)]
Share = Annotated[float, Field(gt=0, le=1)]


class MaxShare(Settings):
    """At most this share of a batch from one policy (by the student's flags) or one language; null: no cap."""

    policy: Share | None
    language: Share | None


class SelectBatchSettings(ScoreSettings):
    export_dir: ExistingDir | None
    pool: ExistingFile
    budget: PositiveInt
    output: Text
    exclude: ExistingFiles
    strategy: Literal[SELECTION_STRATEGIES]
    labels: ExistingFile | None
    diversity: Fraction
    max_similarity: Similarity
    max_share: MaxShare
    seed: Int
    progress: Bool


class AuditSettings(Settings):
    policy: PolicySettings
    decisions: ExistingFile
    verdicts: ExistingFiles
    output: Text | None
    size: PositiveInt | None
    listings: ExistingFile | None
    seed: Int
    min_per_stratum: Count
    sample: ExistingFile | None


class DriftMix(Settings):
    min_share: Fraction
    min_count: PositiveInt


class DriftLimits(Settings):
    """Warn and alert levels of each drift check (conf/drift.yaml says what each measures)."""

    psi_warn: Annotated[float, Field(ge=0)]
    psi_alert: Annotated[float, Field(ge=0)]
    flag_rate_warn: Annotated[float, Field(ge=0)]
    flag_rate_alert: Annotated[float, Field(ge=0)]
    unsure_share_warn: Annotated[float, Field(ge=0)]
    unsure_share_alert: Annotated[float, Field(ge=0)]
    oov_warn: Annotated[float, Field(ge=0)]
    oov_alert: Annotated[float, Field(ge=0)]


class DriftSettings(ScoreSettings):
    reference: ExistingFile
    current: ExistingFile
    export_dir: ExistingDir | None
    output: Text | None
    progress: Bool
    min_listings: PositiveInt
    mix: DriftMix
    quantile_bins: Annotated[int, Field(strict=True, ge=2)]
    unsure_margin: Annotated[float, Field(gt=0)]
    plot_policies: PositiveInt
    limits: DriftLimits


class LoopSimSettings(Settings):
    listings: ExistingFile
    labels: ExistingFile
    policy_cases: ExistingFile
    start_fraction: Share
    round_fraction: Share
    rounds: PositiveInt
    strategies: TextList
    experiment: Text
    train_overrides: TextList
    baseline: Bool
    seed: Int
    diversity: Fraction
    max_similarity: Similarity
    max_share: MaxShare
    output_dir: Text
