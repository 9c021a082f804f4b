"""Shared behaviour of the scripts/ entry points."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import traceback
from pathlib import Path

from moddistill.errors import UserError
from moddistill.policy import PolicyError
from moddistill.records import RowError
from moddistill.teacher.openai_backend import TeacherError
from moddistill.teacher.prompts import PromptError

from omegaconf import OmegaConf

# `${dirname:...}` in conf/hydra/default.yaml: a sweep job's overrides as one safe directory name
OmegaConf.register_new_resolver("dirname", lambda s: re.sub(r"[^\w.,=+-]+", "_", str(s))[:150] or "default",
                                replace=True)

# Errors a user fixes by changing an input, a path or an override: one clear line, exit status 1,
# no traceback. Anything else is a bug and keeps its traceback.
USER_ERRORS = (RowError, UserError, PolicyError, PromptError, TeacherError, FileNotFoundError, FileExistsError)


def user_errors(main):
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except USER_ERRORS as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)

    return wrapper


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
            from moddistill.distill.checkpoint import ERROR_FILE

            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / ERROR_FILE).write_text(json.dumps({"type": type(e).__name__, "error": str(e),
                                                          "traceback": traceback.format_exc()}, indent=2),
                                              encoding="utf-8")
            logging.getLogger(__name__).error("sweep job %s failed (%s: %s); recorded in %s", job_dir.name,
                                              type(e).__name__, e, job_dir / ERROR_FILE)
            return None

    return wrapper
