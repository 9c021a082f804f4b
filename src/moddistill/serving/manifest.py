"""The export's manifest and its integrity: the SHA-256 of every file and of the manifest's own content.

Torch-free on purpose: whatever loads an export (the torch runtime today, an ONNX one, another language's
service) verifies it with this alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from moddistill.errors import UserError
from moddistill.provenance import sha256_file

MANIFEST = "moddistill.json"
EXPORT_FORMAT = "moddistill-export/3"  # /2: the manifest covers itself; /3: ONNX files and the serving contract
MANIFEST_DIGEST = "manifest_sha256"


def manifest_digest(manifest: dict) -> str:
    """SHA-256 of the manifest's content without its own digest, as canonical JSON (sorted keys, no spaces)."""
    content = {k: v for k, v in manifest.items() if k != MANIFEST_DIGEST}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode("utf-8")).hexdigest()


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


def write_manifest(root: Path, manifest: dict) -> None:
    """Hash every file now in ``root`` into the manifest, then the manifest's own content, and write it."""
    manifest["files"] = file_hashes(root)
    manifest[MANIFEST_DIGEST] = manifest_digest(manifest)
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def verify_export(export_dir: str | Path) -> dict:
    """Read the manifest and check every file against its SHA-256; raises on any mismatch."""
    root = Path(export_dir)
    path = root / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{root}: not a moddistill export (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: not a readable manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: not a readable manifest (a JSON object is expected)")
    if manifest.get("format") != EXPORT_FORMAT:
        raise UserError(f"{path}: unsupported export format {manifest.get('format')!r} (this moddistill reads "
                        f"{EXPORT_FORMAT!r}; re-export the run with it)")
    if manifest.get(MANIFEST_DIGEST) != manifest_digest(manifest):
        raise UserError(f"{path}: edited after export (its content no longer matches {MANIFEST_DIGEST}); "
                        "thresholds, labels and the input contract are only trusted as exported: re-export the run")
    actual = file_hashes(root)
    for name, digest in manifest["files"].items():
        if actual.get(name) != digest:
            raise UserError(f"{root / name}: {'missing' if name not in actual else 'SHA-256 mismatch'} "
                             "(the export was modified after it was written)")
    # An export holds exactly the files it lists: an added file could change what a loader reads (transformers
    # picks up an adapter_config.json or a weight index beside the weights), so it is refused, not ignored.
    extra = sorted(set(actual) - set(manifest["files"]))
    if extra:
        raise UserError(f"{root / extra[0]}: not part of the export (not in {MANIFEST}; {len(extra)} such file(s)); "
                        "move it out of the export directory")
    return manifest


