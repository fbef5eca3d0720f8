"""Exceptions the CLI maps to exit statuses (contract §4)."""
from __future__ import annotations

from pysim.network import ManifestError

__all__ = ["UsageError", "CheckFailed", "ManifestError", "ToolMissing"]


class UsageError(ValueError):
    """Bad input or usage: the CLI prints one line and exits 2."""


class ToolMissing(UsageError):
    """A required external tool (simulator, synthesizer) is not available: exit 2."""


class CheckFailed(RuntimeError):
    """A check that ran and failed (mismatch, accuracy gate): exit 1."""
