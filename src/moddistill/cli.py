"""Shared behaviour of the scripts/ entry points, and their exit-code contract:

- 0: the work was done;
- 2: a user error (a bad config value or override, a bad input file or row, a refused export): one line
  ``error: ...`` on stderr naming the key, or the file, line and field, and no traceback;
- 1: anything else (a bug, a crash in a library): the full traceback;
- 3: ``drift.py`` only: the work was done and some drift check alerts (for a scheduler; not 1, which is a crash).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from hydra.errors import CompactHydraException
from omegaconf import OmegaConf
from omegaconf.errors import MissingMandatoryValue

from moddistill.errors import UserError

# `${dirname:...}` in conf/hydra/default.yaml: a sweep job's overrides as one safe directory name
OmegaConf.register_new_resolver("dirname", lambda s: re.sub(r"[^\w.,=+-]+", "_", str(s))[:150] or "default",
                                replace=True)

EXIT_USER_ERROR = 2  # the contract above: 0 on success and 1 on a crash are Python's own
# Errors a user fixes by changing an input, a path or an override (Hydra's own: an unknown key or group
# option, an override that does not parse). Anything else is a bug and keeps its traceback.
USER_ERRORS = (UserError, FileNotFoundError, FileExistsError, CompactHydraException, MissingMandatoryValue)


def run(main: Callable[[], Any]) -> None:
    """Run a script's Hydra ``main`` under the exit-code contract (what every ``scripts/*.py`` calls): this
    catches Hydra's own errors (an override that names no key, a group option that does not exist)."""
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of exiting 1 itself, so its errors reach us
    try:
        main()
    except USER_ERRORS as e:
        _user_error(e)


def user_errors(main):
    """The task function's user errors end the script with exit code 2 and one line (Hydra never sees them)."""
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as e:
            _user_error(e)
    return wrapper


def _user_error(e: BaseException) -> None:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(EXIT_USER_ERROR)


def sweep_jobs(main):
    """In a Hydra sweep (``-m``) each job writes its run into the job's own directory, and a job that fails
    records the error in ``<job dir>/error.json`` and lets the other jobs run. Outside a sweep: no change."""

    @functools.wraps(main)
    def wrapper(cfg):
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
        from omegaconf import open_dict

        if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
            return main(cfg)
        job_dir = Path(HydraConfig.get().runtime.output_dir)
        with open_dict(cfg):
            cfg.output_dir = str(job_dir)
        try:
            return main(cfg)
        except Exception as e:  # noqa: BLE001 - any failure of one job is recorded, the sweep goes on
            from moddistill.runs.run import ERROR_FILE

            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / ERROR_FILE).write_text(json.dumps({"type": type(e).__name__, "error": str(e),
                                                          "traceback": traceback.format_exc()}, indent=2),
                                              encoding="utf-8")
            logging.getLogger(__name__).error("sweep job %s failed (%s: %s); recorded in %s", job_dir.name,
                                              type(e).__name__, e, job_dir / ERROR_FILE)
            return None

    return wrapper
