"""Load an export and predict: what a serving team runs.

Three runtimes read the same export and flag with the same ``score >= threshold`` rule:
``onnx_int8`` and ``onnx`` (onnxruntime + tokenizers + numpy: a plain ``pip install .``, no torch) and
``torch`` (transformers, the ``train`` extra). ``auto`` takes the int8 ONNX model when the export has it.
Inputs are rendered with the ``render_listing`` the model was trained with; the ONNX runtime tokenizes from
the manifest's serving contract alone (``tokenizer.json``, max length, truncation side, pad id), as a
service in another language would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from moddistill.data.listings import RENDERINGS, Listing, read_listings, render_listing
from moddistill.data.records import ReadReport
from moddistill.errors import UserError
from moddistill.serving.manifest import verify_export
from moddistill.serving.settings import AUTO, RUNTIMES

AUTO_ORDER = ("onnx_int8", "onnx", "torch")  # what runtime=auto picks: the first the export has


class Scorer(Protocol):
    def score(self, texts: Sequence[str], *, batch_size: int, progress: bool = True) -> np.ndarray: ...


class Runtime(Protocol):
    """A way to score an export's listings: whether this export can be scored so, and its scorer."""

    def available(self, manifest: dict) -> bool: ...

    def load(self, export_dir: Path, manifest: dict) -> Scorer: ...


class TorchRuntime:
    """The export's transformers model (needs the ``train`` extra)."""

    def available(self, manifest: dict) -> bool:
        return True

    def load(self, export_dir: Path, manifest: dict) -> Scorer:
        return TorchScorer.load(export_dir, manifest)


class OnnxFp32Runtime:
    """The export's ONNX graph in onnxruntime (torch-free)."""

    precision = "fp32"  # the manifest's key for its file under "onnx"

    def available(self, manifest: dict) -> bool:
        return bool((manifest.get("onnx") or {}).get(self.precision))

    def load(self, export_dir: Path, manifest: dict) -> Scorer:
        return OnnxScorer(export_dir, manifest, manifest["onnx"][self.precision])


class OnnxInt8Runtime(OnnxFp32Runtime):
    """The ONNX graph with its MatMul and Attention weights quantized to int8 (torch-free)."""

    precision = "int8"


def available_runtimes(manifest: dict) -> list[str]:
    return [name for name in RUNTIMES.names if RUNTIMES.resolve(name)().available(manifest)]


def resolve_runtime(manifest: dict, runtime: str, export_dir: Path) -> str:
    if runtime == AUTO:
        has = available_runtimes(manifest)
        return next(r for r in AUTO_ORDER if r in has)
    if not RUNTIMES.resolve(runtime)().available(manifest):
        raise UserError(f"{export_dir}: runtime={runtime} needs a file this export does not have; it has: "
                        f"{', '.join(available_runtimes(manifest))} (re-export with onnx=true for the ONNX runtimes)")
    return runtime


@dataclass
class ExportedModel:
    dir: Path
    manifest: dict
    runtime: str
    scorer: Scorer

    @classmethod
    def check(cls, export_dir: str | Path, runtime: str = "auto") -> tuple[dict, str]:
        """What ``load`` refuses, without loading a model: (the verified manifest, the runtime ``runtime`` names).
        A job that loads the export in its workers checks it here first, once."""
        export_dir = Path(export_dir)
        manifest = verify_export(export_dir)
        if manifest["render_version"] not in RENDERINGS:
            raise UserError(f"{export_dir}: trained on inputs rendered as {manifest['render_version']!r}, "
                            f"this moddistill renders {', '.join(RENDERINGS)}: upgrade moddistill")
        return manifest, resolve_runtime(manifest, runtime, export_dir)

    @classmethod
    def load(cls, export_dir: str | Path, runtime: str = "auto") -> "ExportedModel":
        manifest, runtime = cls.check(export_dir, runtime)
        return cls(Path(export_dir), manifest, runtime, RUNTIMES.resolve(runtime)().load(Path(export_dir), manifest))

    @property
    def labels(self) -> list[str]:
        return self.manifest["labels"]

    def render(self, listing: Listing) -> str:
        """The listing as the model reads it: the rendering it was trained on, as the manifest names it."""
        return render_listing(listing, self.manifest["render_version"])

    def score(self, listings: Sequence[Listing], batch_size: int = 64, progress: bool = True) -> np.ndarray:
        """Per-policy probabilities, shape (len(listings), len(labels)), in input order."""
        return self.scorer.score([self.render(x) for x in listings], batch_size=batch_size, progress=progress)

    def predict(self, listings: Sequence[Listing], batch_size: int = 64, progress: bool = True) -> list[dict]:
        """One row per listing, in order: scores per policy and the policies at or above their threshold."""
        scores = self.score(listings, batch_size, progress)
        thresholds = self.manifest["thresholds"]
        return [
            {"id": x.id, "scores": {p: round(float(s), 6) for p, s in zip(self.labels, row)},
             "flagged": [p for p, s in zip(self.labels, row) if s >= thresholds[p]]}
            for x, row in zip(listings, scores)
        ]


@dataclass
class TorchScorer:
    """The export's transformers model, scored by ``scoring.score_texts`` (needs the ``train`` extra)."""

    model: object
    tokenizer: object
    max_length: int

    @classmethod
    def load(cls, export_dir: Path, manifest: dict) -> "TorchScorer":
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            import moddistill.distill.student  # noqa: F401 - registers the student architecture with transformers
        except ImportError as e:
            raise UserError(f"runtime=torch needs torch and transformers ({e}); install them with "
                            "pip install 'moddistill[train]', or use runtime=onnx_int8 / onnx") from None
        model = AutoModelForSequenceClassification.from_pretrained(export_dir)
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        if labels != manifest["labels"]:
            raise UserError(f"{export_dir}: config.id2label {labels} disagrees with the manifest {manifest['labels']}")
        return cls(model.eval(), AutoTokenizer.from_pretrained(export_dir), manifest["max_length"])

    def score(self, texts: Sequence[str], *, batch_size: int, progress: bool = True) -> np.ndarray:
        from moddistill.distill.inference import score_texts

        return score_texts(self.model, self.tokenizer, texts, max_length=self.max_length, batch_size=batch_size,
                           desc="predicting", progress=progress)


class OnnxScorer:
    """An ONNX graph of the export in onnxruntime, fed from the manifest's serving contract. Torch-free."""

    def __init__(self, export_dir: Path, manifest: dict, onnx_file: str):
        import onnxruntime as ort

        contract = manifest["input"]
        self.tokenizer = contract_tokenizer(export_dir, contract)
        self.pad_id = int(contract["padding"]["pad_token_id"])
        self.ngram = None
        if contract.get("ngram"):
            from moddistill.distill.ngrams import NgramSpec

            self.ngram = NgramSpec.from_dict(contract["ngram"])
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(export_dir / onnx_file), providers=providers)
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.num_labels = len(manifest["labels"])

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The graph's inputs for a batch: token ids right-padded to the batch's longest, plus n-gram bags."""
        return self._feeds(self.tokenizer.encode_batch(list(texts)), texts)

    def _feeds(self, encodings, texts: Sequence[str]) -> dict[str, np.ndarray]:
        width = max(len(e.ids) for e in encodings)
        feeds = {"input_ids": np.full((len(texts), width), self.pad_id, dtype=np.int64),
                 "attention_mask": np.zeros((len(texts), width), dtype=np.int64),
                 "token_type_ids": np.zeros((len(texts), width), dtype=np.int64)}
        for i, e in enumerate(encodings):
            n = len(e.ids)
            feeds["input_ids"][i, :n] = e.ids
            feeds["attention_mask"][i, :n] = 1
            feeds["token_type_ids"][i, :n] = e.type_ids
        if self.ngram is not None:
            from moddistill.distill.ngrams import ngram_bags, pad_bags

            feeds["ngram_ids"], feeds["ngram_weights"] = pad_bags(*ngram_bags(texts, self.ngram))
        return {name: feeds[name] for name in self.inputs}

    def score(self, texts: Sequence[str], *, batch_size: int, progress: bool = True) -> np.ndarray:
        # Tokenized once up front and batched by token count, so each batch pads little; put back in input order.
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.num_labels), dtype=np.float32)
        batches = range(0, len(texts), batch_size)
        for start in tqdm(batches, desc="predicting", unit="batch", disable=not progress or len(batches) < 2):
            idx = order[start : start + batch_size]
            out[idx] = self.session.run(None, self._feeds([encodings[i] for i in idx], [texts[i] for i in idx]))[0]
        return out


def contract_tokenizer(export_dir: Path, contract: Mapping):
    """``tokenizers.Tokenizer`` set up exactly as the manifest's serving contract says (no padding: the
    runtime pads each batch itself with the contract's pad id)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(export_dir / contract["tokenizer"]))
    tok.no_padding()
    tok.enable_truncation(int(contract["max_length"]), direction=contract["truncation_side"])
    return tok


def predict_file(
    export_dir: str | Path, input_path: str | Path, output_path: str | Path, *, on_error: str = "raise",
    columns: Mapping[str, str] | None = None, batch_size: int = 64, allow_empty: bool = False, runtime: str = "auto",
) -> tuple[ReadReport, dict[str, int], ExportedModel]:
    """Predict every listing in ``input_path`` into ``output_path`` (JSONL); returns the read report, how
    many listings each policy flagged, and the loaded export."""
    output_path = Path(output_path)
    listings, report = read_listings(input_path, on_error=on_error, columns=columns, allow_empty=allow_empty,
                                     rejects_path=output_path.with_suffix(".rejects.jsonl"))
    exported = ExportedModel.load(export_dir, runtime)
    rows = exported.predict(listings, batch_size)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    with output_path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    flagged = {p: sum(p in r["flagged"] for r in rows) for p in exported.labels}
    return report, flagged, exported
