"""Exceptions the CLI maps to exit statuses (docs/architecture.md, "Errors and exit
statuses"); defined in :mod:`pysim.errors`."""
from __future__ import annotations

from pysim.errors import CheckFailed, InputError, ManifestError, ToolMissing

UsageError = InputError
"""Bad input or usage: the CLI prints one line and exits 2."""

__all__ = ["CheckFailed", "InputError", "ManifestError", "ToolMissing", "UsageError"]
