"""Named implementations of an extension point (selection strategies, ...), and plugins from outside the package.

A built-in name maps to an import path (``module:Name``) resolved when it is used, so a config check can list and
check names without importing torch or scikit-learn. A name that is itself an import path, ``package.module:Name``,
is a plugin: one module on ``PYTHONPATH``, nothing to register, usable from the command line (``strategy=...``).
"""

from __future__ import annotations

import importlib
import re
from typing import Annotated, Any, Mapping

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from moddistill.errors import UserError

PLUGIN = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


class Registry:
    def __init__(self, kind: str, builtins: Mapping[str, str]):
        self.kind = kind
        self._builtins = dict(builtins)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._builtins)

    def resolve(self, name: str) -> Any:
        """The implementation ``name`` stands for: a built-in's, or the plugin ``package.module:Name`` itself."""
        path = self._builtins.get(name, name)
        if not PLUGIN.fullmatch(path):
            raise UserError(f"{self.kind} {name!r}: expected {self.wanted()}")
        module, _, attr = path.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise UserError(f"{self.kind} {name!r}: cannot import {path} ({e})") from None

    def wanted(self, extra: tuple[str, ...] = ()) -> str:
        return f"one of {', '.join(map(repr, (*extra, *self.names)))} or a plugin's import path package.module:Name"

    def setting(self, extra: tuple[str, ...] = ()) -> Any:
        """The config field type: a built-in name (or one of ``extra``, a name the caller handles itself, like
        ``auto``), or a plugin that imports (checked before any work starts)."""
        def check(name: str) -> str:
            if name in self._builtins or name in extra:
                return name
            if not PLUGIN.fullmatch(name):
                raise PydanticCustomError("moddistill", f"expected {self.wanted(extra)}")
            try:
                self.resolve(name)
            except UserError as e:
                raise PydanticCustomError("moddistill", str(e).split(": ", 1)[1]) from None
            return name
        return Annotated[str, AfterValidator(check)]
