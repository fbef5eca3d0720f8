"""Exceptions shared by every stage; the CLI maps them to exit statuses (contract §4)."""
from __future__ import annotations

__all__ = ["CheckFailed", "InputError", "ManifestError", "ToolMissing"]


class InputError(ValueError):
    """Bad input or usage (a file, a value, an option): one line, exit status 2."""


class ManifestError(InputError):
    """A manifest, spike file or integer network that breaks the contract.

    The message is one line naming the file (when known), the layer and the field.
    """


class ToolMissing(InputError):
    """A required external tool (simulator, synthesizer) is not available: exit status 2."""


class CheckFailed(RuntimeError):
    """A check that ran and failed (RTL mismatch, accuracy gate): exit status 1."""
