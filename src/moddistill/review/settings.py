"""``scripts/review.py``'s config, typed (conf/review.yaml says what each key means). No web stack imported here:
config_checks.py imports this module for every script."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from moddistill.data.policy import PolicySettings
from moddistill.settings import ExistingDir, ExistingFile, ExistingFiles, PositiveInt, Settings, Text

Port = Annotated[int, Field(strict=True, ge=0, le=65535)]


class DashboardSettings(Settings):
    moderate_summary: ExistingFile | None
    drift: Text | None
    leaderboard: Text | None
    top: PositiveInt


class LabelStudioSettings(Settings):
    tasks: Text | None
    export: ExistingFile | None
    verdicts: Text | None


class ReviewSettings(Settings):
    policy: PolicySettings
    export_dir: ExistingDir | None
    queues: ExistingFiles
    listings: ExistingFile | None
    decisions: ExistingFile | None
    store: Text
    verdicts_out: Text | None
    host: Text
    port: Port
    token_env: Text
    dashboard: DashboardSettings
    label_studio: LabelStudioSettings
