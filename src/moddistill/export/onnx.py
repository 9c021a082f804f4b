"""The export's ONNX files: the merged student as one fp32 graph, and an int8 copy for CPUs.

The graph takes exactly what a serving process can compute without torch (the tokenizer's ids and, when the
student has an n-gram channel, the hashed n-gram bags of ``ngrams.py``) and returns the per-policy sigmoid
probabilities, so every runtime flags with the same ``score >= threshold`` rule. The fp32 graph comes from
torch's exporter, then onnxruntime's transformer optimizer fuses attention, layer norms and GELU where it
recognises the encoder; the int8 one is onnxruntime's dynamic quantization of the fused graph (MatMul and
Attention weights int8 per channel, activations quantized per batch at run time). The n-gram table stays fp32:
quantized too, it moved 1 more of 699 policy cases' allow/reject away from torch fp32 and gained no speed.
Figures: README, "Serving"."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

log = logging.getLogger(__name__)

ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model_int8.onnx"
NGRAM_INPUTS = ("ngram_ids", "ngram_weights")
OUTPUT = "scores"
# what a service feeds each graph input (the manifest's "onnx.inputs"); batch rows are right-padded
INPUTS = {
    "input_ids": "int64 (batch, sequence): tokenizer.json's ids, padded with input.padding.pad_token_id",
    "attention_mask": "int64 (batch, sequence): 1 for a token, 0 for padding",
    "token_type_ids": "int64 (batch, sequence): tokenizer.json's type ids (all 0 for one text), 0 for padding",
    "ngram_ids": "int64 (batch, bag): the listing's distinct hashed n-gram buckets (input.ngram), padded with 0",
    "ngram_weights": "float32 (batch, bag): 1 + log(count) per bucket, L2-normalised per listing, 0 for padding; "
                     "the graph applies the buckets' IDF and normalises again",
}


class ScoringGraph(nn.Module):
    """What the ONNX file computes: named inputs in, sigmoid probabilities out."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids=None, ngram_ids=None, ngram_weights=None):
        logits = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                            ngram_ids=ngram_ids, ngram_weights=ngram_weights).logits
        return torch.sigmoid(logits.float())


def graph_inputs(model: nn.Module, tokenizer) -> list[str]:
    """The graph's input names, in order: the tokenizer's outputs the encoder reads, then the n-gram bags."""
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names]
    return names + list(NGRAM_INPUTS) if getattr(model, "ngram", None) is not None else names


def export_onnx(model: nn.Module, tokenizer, out_dir: Path, *, int8: bool = True) -> dict:
    """Write ``model.onnx`` (and ``model_int8.onnx``) into ``out_dir``; returns the manifest's ``onnx`` entry.

    The encoder is switched to eager attention first (the same math as SDPA): traced by torch's TorchScript
    exporter, its graph is one onnxruntime's optimizer fuses whole (embeddings + layer norm, Attention,
    SkipLayerNorm, BiasGelu), and int8 then quantizes the fused Attention too. On the bundled MiniLM that took
    the int8 model from 239 to 279 listings/s; neither SDPA nor the dynamo exporter's graph fused attention.
    The dynamo exporter stays as the fallback for a torch without the TorchScript one.
    """
    model = model.float().eval()
    encoder = getattr(model, "encoder", None)
    if encoder is not None and hasattr(encoder, "set_attn_implementation"):
        encoder.set_attn_implementation("eager")
    names = graph_inputs(model, tokenizer)
    example = {"input_ids": torch.randint(5, 100, (2, 8)), "attention_mask": torch.ones(2, 8, dtype=torch.long),
               "token_type_ids": torch.zeros(2, 8, dtype=torch.long), "ngram_ids": torch.randint(0, 100, (2, 6)),
               "ngram_weights": torch.rand(2, 6)}
    fp32 = out_dir / ONNX_FP32
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        exporter = _trace(ScoringGraph(model).eval(), {n: example[n] for n in names}, raw)
        with quiet_onnxruntime_logs():
            fused = _fuse_transformer(raw, model, fp32)
        entry = {"fp32": ONNX_FP32, "inputs": {n: INPUTS[n] for n in names},
                 "output": f"{OUTPUT}: float32 (batch, labels), sigmoid probabilities",
                 "exporter": f"torch.onnx ({exporter}) {torch.__version__}", "fused": fused}
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # DefaultTensorType: shape inference cannot type the outputs of fused (com.microsoft) operators
            with quiet_onnxruntime_logs():
                quantize_dynamic(fp32, out_dir / ONNX_INT8, weight_type=QuantType.QInt8, per_channel=True,
                                 op_types_to_quantize=["MatMul", "Attention"],
                                 extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            entry["int8"] = ONNX_INT8
            entry["quantization"] = ("onnxruntime dynamic quantization: MatMul and fused Attention weights int8 per "
                                     "channel, activations per batch at run time")
    return entry


def _trace(graph: nn.Module, example: dict, path: Path) -> str:
    """``graph`` as ONNX at ``path``, batch, sequence and bag lengths dynamic; returns which exporter wrote it."""
    names = list(example)
    axis = {"input_ids": "sequence", "attention_mask": "sequence", "token_type_ids": "sequence",
            "ngram_ids": "bag", "ngram_weights": "bag"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
            torch.onnx.export(graph, tuple(example.values()), str(path), input_names=names, output_names=[OUTPUT],
                              dynamic_axes={n: {0: "batch", 1: axis[n]} for n in names}, opset_version=17,
                              dynamo=False)
        return "TorchScript"
    except Exception as e:  # noqa: BLE001 - a torch without the TorchScript exporter: the dynamo one, unfused
        log.warning("the TorchScript ONNX exporter failed (%s); exporting with dynamo", e)
    dims = {"batch": torch.export.Dim("batch"), "sequence": torch.export.Dim("sequence"), "bag": torch.export.Dim("bag")}
    torch.onnx.export(graph, args=(), kwargs=example, f=str(path), input_names=names, output_names=[OUTPUT],
                      dynamic_shapes={n: {0: dims["batch"], 1: dims[axis[n]]} for n in names}, dynamo=True,
                      external_data=False, verbose=False)
    return "dynamo"


def _fuse_transformer(raw: Path, model: nn.Module, out: Path) -> dict[str, int]:
    """onnxruntime's transformer graph fusions (layer norm, GELU; attention where its patterns match this graph)
    into ``out``; the plain graph when the optimizer cannot read it. Returns the fused operators it made."""
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = model.config.encoder if hasattr(model.config, "encoder") else model.config.to_dict()
    try:
        opt = optimize_model(str(raw), model_type="bert", num_heads=int(cfg.get("num_attention_heads", 0)),
                             hidden_size=int(cfg.get("hidden_size", 0)), opt_level=1)
        opt.save_model_to_file(str(out))
        return {op: n for op, n in opt.get_fused_operator_statistics().items() if n}
    except Exception as e:  # noqa: BLE001 - an unrecognised graph is still a correct graph: keep it unfused
        log.warning("onnxruntime's transformer fusions did not apply (%s); keeping the unfused graph", e)
        out.write_bytes(raw.read_bytes())
        return {}


@contextlib.contextmanager
def quiet_onnxruntime_logs():
    """onnxruntime's optimizer and quantizer log to the root logger (the quantizer a line per tensor it leaves
    alone, hundreds, and advice to pre-process), which Hydra shows: hold the root logger at ERROR meanwhile."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)
