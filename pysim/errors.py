"""Exceptions shared by every stage; the CLI maps them to exit statuses.

Exit statuses (docs/architecture.md, "Errors and exit statuses"): :class:`InputError`
and its subclasses are bad input or usage (one line on stderr, exit status 2);
:class:`CheckFailed` is a check that ran and failed (exit status 1).

Parameter names: library vocabulary, translated at the edge
-----------------------------------------------------------
Library code (``quant``, ``pysim``, ``hdl``, ``sim``) names the parameter a bad value
came from by its *own* name, never by a command-line flag or a config key, because the
same function is called from the CLI (``--bits``), from the flow (config key
``quantize.bits``) and from Python (``bits=``)::

    raise InputError("3 widths given for a network of 2 layers", param="bits")
    # str(exc) == "bits: 3 widths given for a network of 2 layers"

The layer that knows what the user typed translates the parameter with
:meth:`InputError.renamed`, which returns the same error (same class, same detail, one
line) with the parameter shown under another name::

    except InputError as exc:
        raise exc.renamed({"bits": "--bits", "method": "--quantizer"}) from None
    # "--bits: 3 widths given for a network of 2 layers"

    exc.renamed({"bits": "config key 'quantize.bits'"})
    # "config key 'quantize.bits': 3 widths given for a network of 2 layers"

``spikeforge.cli.main`` translates for every subcommand (an option ``--foo-bar`` stands
for the parameter ``foo_bar``; explicit maps where the names differ) and
``spikeforge.flow.Flow`` translates per stage into ``config key 'section.key'``. A
library function that passes a value on under another name may translate too (e.g.
``quantize_run(policy=...)`` calls ``allocate_for_run(method=...)`` and renames
``method`` to ``policy``): renaming replaces :attr:`InputError.param`, so the next layer
out translates the new name. A user-facing label (``--bits``, ``config key '...'``) is
never a parameter name of any map, so it is translated once, by the innermost layer
that knows it. Errors without a parameter (``param=None``) pass through unchanged.

:meth:`InputError.for_param` makes the ``error=`` factory of
:func:`pysim.util.check_int` for a parameter.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

__all__ = ["CheckFailed", "InputError", "ManifestError", "ToolMissing"]


class InputError(ValueError):
    """Bad input or usage (a file, a value, an option): one line, exit status 2.

    Parameters
    ----------
    message : str
        What is wrong (without the parameter name when ``param`` is given).
    param : str, optional
        The parameter the bad value came from, under the raiser's own name (a library
        parameter, e.g. ``"bits"``); the text is then ``"<param>: <message>"``.

    Attributes
    ----------
    param : str or None
        The parameter as currently shown (after :meth:`renamed`, the new name).
    detail : str
        The message without the ``"<param>: "`` prefix.
    """

    def __init__(self, message: str = "", *, param: str | None = None) -> None:
        self.param = param
        self.detail = str(message)
        super().__init__(f"{param}: {message}" if param else str(message))

    def renamed(self, mapping: Mapping[str, str]) -> InputError:
        """The same error with its parameter shown as ``mapping[param]``.

        Returns ``self`` when the error names no parameter or ``mapping`` does not hold
        it; otherwise a copy (same class, detail, cause and traceback) whose ``param``
        and text use the new name.
        """
        if self.param is None or self.param not in mapping:
            return self
        new = copy.copy(self)
        new.param = mapping[self.param]
        new.args = (f"{new.param}: {self.detail}",)
        new.__cause__, new.__context__ = self.__cause__, self.__context__
        new.__suppress_context__ = self.__suppress_context__
        return new.with_traceback(self.__traceback__)

    @classmethod
    def for_param(cls, param: str) -> Callable[[str], InputError]:
        """A factory ``message -> cls(message, param=param)`` (``check_int(error=...)``)."""
        def make(message: str) -> InputError:
            return cls(message, param=param)

        return make


class ManifestError(InputError):
    """A manifest, spike file or integer network that breaks the format (docs/manifest.md).

    The message is one line naming the file (when known), the layer and the field.
    """


class ToolMissing(InputError):
    """A required external tool (simulator, synthesizer) is not available: exit status 2."""


class CheckFailed(RuntimeError):
    """A check that ran and failed (RTL mismatch, accuracy gate): exit status 1."""
