"""What ``scripts/export.py`` accepts, typed."""

from __future__ import annotations

from moddistill.settings import Bool, ExistingDir, Settings, Text


class ExportSettings(Settings):
    checkpoint: ExistingDir
    export_dir: Text | None
    overwrite: Bool
    allow_collapsed: Bool
    onnx: Bool
    onnx_int8: Bool
