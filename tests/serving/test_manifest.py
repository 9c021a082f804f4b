"""The export's integrity check on a hand-made export directory (no model needed): every file and the
manifest's own content are checked at load, and each way of tampering is refused by name."""

from __future__ import annotations

import json

import pytest

from moddistill.errors import UserError
from moddistill.serving.manifest import (
    EXPORT_FORMAT,
    MANIFEST,
    MANIFEST_DIGEST,
    file_hashes,
    manifest_digest,
    verify_export,
)


def make_export(root):
    root.mkdir()
    (root / "model.safetensors").write_bytes(b"weights")
    (root / "tokenizer.json").write_text('{"vocab": 1}', encoding="utf-8")
    manifest = {"format": EXPORT_FORMAT, "labels": ["a", "b"], "thresholds": {"a": 0.3, "b": 0.4},
                "files": file_hashes(root)}
    manifest[MANIFEST_DIGEST] = manifest_digest(manifest)
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def test_an_untouched_export_verifies_and_the_digest_is_canonical(tmp_path):
    manifest = make_export(tmp_path / "e")
    assert verify_export(tmp_path / "e") == manifest
    assert set(manifest["files"]) == {"model.safetensors", "tokenizer.json"}  # the manifest does not list itself
    reordered = dict(reversed(list(manifest.items())))
    assert manifest_digest(reordered) == manifest[MANIFEST_DIGEST]  # key order is not content
    assert manifest_digest({**manifest, MANIFEST_DIGEST: "x"}) == manifest[MANIFEST_DIGEST]  # nor is the digest
    assert manifest_digest({**manifest, "thresholds": {"a": 0.3, "b": 0.41}}) != manifest[MANIFEST_DIGEST]
    assert MANIFEST not in file_hashes(tmp_path / "e")  # written now, still not listed


def test_the_digest_is_sha256_of_compact_sorted_utf8_json():
    """The form a service in another language reproduces: keys sorted, no spaces, UTF-8 text unescaped."""
    import hashlib

    manifest = {"labels": ["armes", "drogues"], "format": "f", "title": "Règles", MANIFEST_DIGEST: "ignored"}
    canonical = '{"format":"f","labels":["armes","drogues"],"title":"Règles"}'
    assert manifest_digest(manifest) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@pytest.mark.parametrize("tamper, message", [
    (lambda r, m: (r / "model.safetensors").write_bytes(b"other"), r"model\.safetensors: SHA-256 mismatch"),
    (lambda r, m: (r / "tokenizer.json").unlink(), r"tokenizer\.json: missing"),
    (lambda r, m: _rewrite(r, {**m, "thresholds": {"a": 0.01, "b": 0.4}}), "edited after export"),
    (lambda r, m: _rewrite(r, {k: v for k, v in m.items() if k != MANIFEST_DIGEST}), "edited after export"),
    (lambda r, m: _rewrite(r, {**m, "format": "moddistill-export/1"}),
     "unsupported export format 'moddistill-export/1' .*re-export"),
    (lambda r, m: (r / MANIFEST).write_bytes(b"\xff not json"), "not a readable manifest"),
    (lambda r, m: (r / MANIFEST).write_text("[1, 2]", encoding="utf-8"), "not a readable manifest"),
    (lambda r, m: (r / "adapter_config.json").write_text("{}", encoding="utf-8"),  # transformers would read it
     r"adapter_config\.json: not part of the export \(not in moddistill\.json; 1 such file"),
])
def test_each_kind_of_tampering_is_refused(tmp_path, tamper, message):
    root = tmp_path / "e"
    tamper(root, make_export(root))
    with pytest.raises(UserError, match=message):
        verify_export(root)


def test_a_directory_without_a_manifest_is_not_an_export(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a moddistill export"):
        verify_export(tmp_path)


def _rewrite(root, manifest):
    (root / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
