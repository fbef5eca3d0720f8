"""spikeforge: Hessian-aware quantized spiking neural networks, from PyTorch to verified Verilog."""
from __future__ import annotations

__version__ = "0.1.0"
