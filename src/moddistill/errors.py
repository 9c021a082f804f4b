"""Errors a user fixes by changing an input, a path or an override (scripts print them in one line)."""


class UserError(ValueError):
    """A refused request: the wrong kind of run for a stage, a collapsed student, ..."""
