"""What ``scripts/predict.py`` accepts, typed, and the runtimes an export can be scored with."""

from __future__ import annotations

from typing import Literal

from moddistill.data.listings import ReadSettings
from moddistill.settings import Bool, ExistingDir, ExistingFile, PositiveInt, Text

# auto: ONNX when the export has it, else torch | torch | onnx (fp32) | onnx_int8
RUNTIMES = ("auto", "torch", "onnx", "onnx_int8")


class ScoreSettings(ReadSettings):
    """Reading a listings file and scoring it with an export: what predict, moderate, drift and selection share."""

    runtime: Literal[RUNTIMES]
    batch_size: PositiveInt


class PredictSettings(ScoreSettings):
    export_dir: ExistingDir
    input: ExistingFile
    output: Text
    allow_empty: Bool
