"""The closed loop's configs, typed: ``scripts/select_batch.py``, ``audit.py``, ``drift.py`` and ``loop_sim.py``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from moddistill.data.policy import PolicySettings
from moddistill.registry import Registry
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

# the listings nearest a threshold | where the student and the teacher disagree most | a uniform sample; or a plugin,
# strategy=package.module:Name (a class with the SelectionStrategy methods, loop/selection.py)
SELECTION_STRATEGIES = Registry("selection strategy", {
    "uncertainty": "moddistill.loop.selection:Uncertainty",
    "disagreement": "moddistill.loop.selection:Disagreement",
    "random": "moddistill.loop.selection:Random",
})
SelectionStrategyName = SELECTION_STRATEGIES.setting()
Similarity = Annotated[float, Field(gt=0, le=1)]
Share = Annotated[float, Field(gt=0, le=1)]


class MaxShare(Settings):
    """At most this share of a batch from one policy (by the student's flags) or one language; null: no cap."""

    policy: Share | None
    language: Share | None


class SelectionSettings(Settings):
    """How a batch is picked: by ``select_batch.py`` and by each round of ``loop_sim.py``."""

    budget: PositiveInt
    strategy: SelectionStrategyName
    diversity: Fraction  # share of the batch filled by k-center
    max_similarity: Similarity  # a listing this similar (cosine) to one already picked is skipped
    max_share: MaxShare
    seed: Int


class SelectBatchSettings(ScoreSettings, SelectionSettings):
    export_dir: ExistingDir | None
    pool: ExistingFile
    output: Text
    exclude: ExistingFiles
    labels: ExistingFile | None
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
    strategies: list[SelectionStrategyName]
    experiment: Text
    train_overrides: TextList
    baseline: Bool
    seed: Int
    diversity: Fraction
    max_similarity: Similarity
    max_share: MaxShare
    output_dir: Text
