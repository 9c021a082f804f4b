"""What ``scripts/predict.py`` accepts, typed, and the runtimes an export can be scored with."""

from __future__ import annotations

from moddistill.data.listings import ReadSettings
from moddistill.engines.settings import EngineSettings, ExistingInput
from moddistill.registry import Registry
from moddistill.settings import Bool, ExistingDir, PositiveInt, Text

# torch | onnx (fp32) | onnx_int8, or a plugin runtime=package.module:Name (a Runtime class, serving/runtime.py);
# the setting also takes auto: ONNX int8, else ONNX fp32, else torch, whichever the export has
RUNTIMES = Registry("runtime", {
    "torch": "moddistill.serving.runtime:TorchRuntime",
    "onnx": "moddistill.serving.runtime:OnnxFp32Runtime",
    "onnx_int8": "moddistill.serving.runtime:OnnxInt8Runtime",
})
AUTO = "auto"
RuntimeName = RUNTIMES.setting(extra=(AUTO,))


class ScoreSettings(ReadSettings):
    """Reading a listings file and scoring it with an export: what predict, moderate, drift and selection share."""

    runtime: RuntimeName
    batch_size: PositiveInt


class PredictSettings(ScoreSettings):
    export_dir: ExistingDir
    input: ExistingInput  # a file; with engine=ray also a directory of shards
    output: Text
    allow_empty: Bool
    engine: EngineSettings
