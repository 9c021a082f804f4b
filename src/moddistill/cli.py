"""Shared behaviour of the scripts/ entry points."""

from __future__ import annotations

import functools
import sys

from moddistill.errors import UserError
from moddistill.policy import PolicyError
from moddistill.records import RowError
from moddistill.teacher.openai_backend import TeacherError
from moddistill.teacher.prompts import PromptError

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
