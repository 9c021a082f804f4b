"""The fused moderator's configs, typed: the routing rules (``fusion``), ``scripts/fuse.py`` and
``scripts/moderate.py``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from moddistill.engines.settings import EngineSettings, ExistingInput
from moddistill.fusion.rules import FUSION_RULES
from moddistill.serving.settings import ScoreSettings
from moddistill.settings import Bool, ExistingDir, ExistingFile, Fraction, Settings, Text, TextList
from moddistill.teacher.settings import OpenAITeacherSettings, PromptSettings


class FusionSettings(Settings):
    rule: FUSION_RULES.setting()
    llm_share: Fraction | None
    target: Annotated[float, Field(gt=0, le=1)]
    disagreement_margin: Annotated[float, Field(gt=0)]
    always_human: TextList


class FuseSettings(Settings):
    export_dir: ExistingDir
    llm_labels: ExistingFile
    cases: ExistingFile | None
    listings: ExistingFile | None
    ids: Literal["validation", None]
    teacher: OpenAITeacherSettings
    fusion: FusionSettings


class ModerateSettings(ScoreSettings):
    export_dir: ExistingDir
    input: ExistingInput  # a file; with engine=ray also a directory of shards
    output: Text
    cache: Text | None
    progress: Bool
    teacher: OpenAITeacherSettings
    prompt: PromptSettings
    engine: EngineSettings
