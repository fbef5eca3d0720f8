"""hwplan: the hardware plan, the one source of every geometric and timing fact of a design.

Pure Python (NumPy, pysim): the generator (``hdl``), the cost model (``cost``), the
testbenches (``sim``) and the reports read the plan; none derives lanes, groups, rows,
widths, memory shapes or cycle formulas on its own. :mod:`hwplan.plan` computes the
plan (:func:`plan_network`) and holds the dense layer's entry; :mod:`hwplan.conv` the
conv2d entry and the sum-pool between layers (importing it registers the conv2d kind);
:mod:`hwplan.design` reads a generated design directory back (:func:`load_design`);
:mod:`hwplan.spram` the load image of weights kept in iCE40 SPRAM.
Everything the modules export is exported here.
"""
from __future__ import annotations

from . import conv, design, plan, spram
from .conv import *
from .design import *
from .plan import *
from .spram import *

__all__ = []
__all__ += plan.__all__
__all__ += conv.__all__
__all__ += design.__all__
__all__ += spram.__all__
