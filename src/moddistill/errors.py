"""Errors a user fixes by changing an input, a path or an override: scripts print them in one line and exit 2.

Every such error derives from ``UserError`` (a bad row, policy, prompt design, config value, teacher server, ...), so
the script runner (``cli.py``) catches them all without importing the rooms that raise them.
"""


class UserError(ValueError):
    """A refused request: the wrong kind of run for a stage, a collapsed student, ..."""


class ConfigError(UserError):
    """A config value a script cannot run with; the message names the key and what it accepts."""
