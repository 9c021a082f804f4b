"""What the console serves, opened from ``scripts/review.py``'s settings without the web stack: the policy the
export names (and its thresholds), the queue, the store, and where the dashboard's files are."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moddistill.data.policy import Policy
from moddistill.errors import UserError
from moddistill.fusion.operating_point import export_policy
from moddistill.review.queues import Queue, read_queue
from moddistill.review.settings import ReviewSettings
from moddistill.review.store import VerdictStore
from moddistill.serving.manifest import verify_export


@dataclass
class Console:
    policy: Policy
    thresholds: dict[str, float]  # {} without an export: scores are shown without a threshold
    queue: Queue
    store: VerdictStore
    verdicts_out: Path  # where the console's Export writes the verdict JSONL
    export_dir: str | None = None
    decisions: str | None = None
    dashboard_files: dict[str, Any] = field(default_factory=dict)  # build_dashboard's moderate_summary, drift, ...
    token: str | None = None  # the operator's token; None: loopback only, no token asked


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None, token_env: str) -> None:
    """Anything but loopback needs the operator's token: a console open to the network without one is refused."""
    if not is_loopback(host) and not token:
        raise UserError(f"host={host} is not a loopback address: set a token in the environment variable {token_env} "
                        "(every request must then carry it), or serve on host=127.0.0.1")


def review_policy(s: ReviewSettings, fallback: Policy) -> tuple[Policy, dict[str, float]]:
    """The policy the export names, with its thresholds (the export verified first); without an export, the
    configured policy and no thresholds."""
    if s.export_dir is None:
        return fallback, {}
    manifest = verify_export(s.export_dir)
    return export_policy(manifest, Path(s.export_dir)), dict(manifest["thresholds"])


def open_console(s: ReviewSettings, fallback_policy: Policy) -> Console:
    token = os.environ.get(s.token_env) or None
    check_bind(s.host, token, s.token_env)
    policy, thresholds = review_policy(s, fallback_policy)
    queue = read_queue(s.queues, policy, listings=s.listings, decisions=s.decisions)
    store = VerdictStore(s.store)
    out = Path(s.verdicts_out) if s.verdicts_out else store.path.with_name(store.path.stem + ".verdicts.jsonl")
    files = {"moderate_summary": s.dashboard.moderate_summary, "drift": s.dashboard.drift,
             "leaderboard": s.dashboard.leaderboard, "top": s.dashboard.top}
    return Console(policy, thresholds, queue, store, out, s.export_dir, s.decisions, files, token)
