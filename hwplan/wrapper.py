"""The plan of the AXI4-Stream / AXI-Lite wrapper around the core (``generate --wrap axis``).

Every fact of the wrapper's interface is computed here once, from the core's
:class:`~hwplan.plan.HardwarePlan`: the stream widths and the bit fields of their words,
the output packet, the AXI-Lite register map (offsets, access, fields, reset values), the
error flags and the duplicate check's tag memory. The RTL (``hdl.axis``), the testbench
(``sim.tb_axis``), the host side and the tables of ``docs/integration.md``
(:func:`register_table`, :func:`stream_tables`) all read this plan, so the documented map
is, by construction, the one in the Verilog.

Input stream ``s_axis`` (one word per beat, no TKEEP/TSTRB)::

    tdata[IDX-1:0]  index of an input that spiked at the current step (IDX = width - 2)
    tdata[W-2]      NOSPIKE: the beat carries no spike (an empty step's TLAST beat)
    tdata[W-1]      EOS: end of sample (must come on the beat with the sample's T-th TLAST)
    tlast           end of step: this beat is the step's last

Output stream ``m_axis`` (32-bit words, one packet of ``1 + n_classes`` beats per
sample, TLAST on the last): the header (prediction, flags, sequence number), then one
score per class (spike count or last-step membrane, sign-extended).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pysim import InputError
from pysim.util import ceil_div, index_bits

from .plan import HardwarePlan

__all__ = [
    "AXIL_DATA_BITS",
    "FLAGS",
    "LFSR_TAPS",
    "MEM_KINDS",
    "OUT_DATA_BITS",
    "WRAPPER_FORMAT",
    "WRAPPER_ID",
    "WRAPPER_KINDS",
    "WRITE_REFUSED_BIT",
    "AxisWrapperPlan",
    "RegField",
    "Register",
    "axis_wrapper_plan",
    "decode_packet",
    "encode_uart_sample",
    "lfsr_next",
    "lfsr_prev",
    "mem_data_words",
    "packet_bytes",
    "register_table",
    "same_architecture",
    "same_but_parameters",
    "same_but_weights",
    "sample_beats",
    "stream_tables",
    "uart_beat_bytes",
    "weight_writes",
]

WRAPPER_FORMAT = "spikeforge.wrapper"
WRAPPER_ID = 0x53460001
"""Value of the ID register: ASCII ``SF`` and the register-map version 1."""
OUT_DATA_BITS = 32
AXIL_DATA_BITS = 32
DEDUP_TAG_BITS = 8
"""Width of the duplicate check's step tags (one per input, see AxisWrapperPlan)."""

#: Taps of a maximal-length Fibonacci LFSR of each width (bit numbers from 1; the width
#: is the first tap): the duplicate check counts its step tags and its clear addresses
#: with them, so it needs neither an adder nor a restart (the Xilinx XAPP052 table).
LFSR_TAPS: dict[int, tuple[int, ...]] = {
    2: (2, 1), 3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4),
    9: (9, 5), 10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1),
    14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 15, 13, 4), 17: (17, 14), 18: (18, 11),
    19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19), 22: (22, 21), 23: (23, 18),
    24: (24, 23, 22, 17),
}


def lfsr_next(state: int, bits: int, *, xnor: bool) -> int:
    """The state after ``state`` of the ``bits``-wide LFSR of :data:`LFSR_TAPS`: shifted
    up by one, the new bit 0 the XOR (``xnor``: XNOR) of the tapped bits. The XOR form
    runs through every state but 0, the XNOR form through every state but all-ones;
    a 1-bit LFSR stays at 0."""
    if bits == 1:
        return 0
    fb = 0
    for t in LFSR_TAPS[bits]:
        fb ^= (state >> (t - 1)) & 1
    return ((state << 1) & ((1 << bits) - 1)) | (fb ^ int(xnor))


def lfsr_prev(state: int, bits: int, *, xnor: bool) -> int:
    """The state before ``state`` (the inverse of :func:`lfsr_next`)."""
    for top in (0, 1):
        cand = (state >> 1) | (top << (bits - 1))
        if lfsr_next(cand, bits, xnor=xnor) == state:
            return cand
    raise ValueError(f"{state} is not a state of the {bits}-bit LFSR")


FLAGS: dict[str, tuple[int, str]] = {
    "RANGE": (0, ("an input index >= input_size (or a reserved index bit set): the sample "
                 "is aborted")),
    "DUPLICATE": (1, ("an input index came twice in one step: merged (counted once), the "
                     "result is still exact")),
    "SHORT": (2, ("the sample ended (EOS) before its T-th step marker, or EOS came "
                 "without TLAST: the sample is aborted")),
    "LONG": (3, ("the T-th step marker came without EOS (more steps follow): the sample is "
                "aborted and the input is discarded up to the next EOS")),
    "ABORTED": (4, ("the result is not valid (one of RANGE, SHORT, LONG); prediction and "
                   "scores are 0")),
}
"""Error/status flags of a sample: bit -> meaning (header bits 16+, ERROR register)."""


@dataclass(frozen=True)
class RegField:
    """Bits ``[lsb + width - 1 : lsb]`` of a register."""

    name: str
    lsb: int
    width: int
    doc: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "lsb": self.lsb, "width": self.width, "doc": self.doc}


@dataclass(frozen=True)
class Register:
    """One 32-bit AXI-Lite register: ``access`` is ``RO``, ``RW`` or ``RW1C`` (write 1 to
    clear); ``reset`` its value after reset (``RO``: the constant, when it is one)."""

    name: str
    offset: int
    access: str
    reset: int
    doc: str
    fields: tuple[RegField, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "offset": self.offset, "access": self.access,
                "reset": self.reset, "doc": self.doc,
                "fields": [f.as_dict() for f in self.fields]}


def _flag_fields() -> tuple[RegField, ...]:
    return tuple(RegField(n, b, 1, d) for n, (b, d) in FLAGS.items() if n != "ABORTED")


WRITE_REFUSED_BIT = 4
"""ERROR register bit set when a weight write came while the core was not idle."""
MEM_DATA_OFFSET = 0x40


MEM_KINDS = {"weights": 0, "biases": 1, "threshold": 2}
"""MEM_SELECT.KIND: which memory of the selected layer MEM_COMMIT writes."""


def mem_data_words(plan: HardwarePlan) -> int:
    """32-bit MEM_DATA registers needed for the widest word the window writes (a synapse
    word, a bias word or a threshold)."""
    widths = [lp.synapse.memory.width for lp in plan.layers]
    widths += [lp.core.bias.width for lp in plan.layers if lp.core.bias is not None]
    widths += [lp.state_bits for lp in plan.layers]
    return ceil_div(max(widths), 32)


def _mem_registers(plan: HardwarePlan) -> tuple[Register, ...]:
    n = mem_data_words(plan)
    regs = [
        Register("MEM_SELECT", 0x30, "RW", 0x0, "weight window: the memory MEM_COMMIT "
                 "writes", (
                     RegField("LAYER", 0, 8, "the layer (0 = first)"),
                     RegField("KIND", 8, 2, "0: synapse weights (word j * groups + g, as "
                              "hwplan.pack_synapse_words), 1: biases (word = update row, as "
                              "hwplan.pack_bias_words; layers with a bias only), 2: the "
                              "threshold (MEM_DATA0, two's complement, address ignored)"),
                 )),
        Register("MEM_ADDR", 0x34, "RW", 0x0, "weight window: the word address; +1 after "
                 "each commit"),
        Register("MEM_COMMIT", 0x38, "WO", 0x0, "write 1: store MEM_DATA into word MEM_ADDR "
                 "of the memory MEM_SELECT; refused (ERROR.WRITE_REFUSED) unless the core is "
                 "idle and no sample is in flight"),
        Register("MEM_INFO", 0x3C, "RO", (len(plan.layers) << 8) | n, "weight window: "
                 "layers and MEM_DATA registers", (
                     RegField("DATA_WORDS", 0, 8, "MEM_DATA registers"),
                     RegField("LAYERS", 8, 8, "layers"),
                 )),
    ]
    for i in range(n):
        regs.append(Register(f"MEM_DATA{i}", MEM_DATA_OFFSET + 4 * i, "RW", 0x0,
                             f"weight window: bits {32 * i + 31}:{32 * i} of the word"))
    return tuple(regs)


COUNTER_BITS = 16
"""Width of the SAMPLES and ABORTED counters (they wrap)."""


def cycle_bits(plan: HardwarePlan) -> int:
    """Width of the CYCLES counter: twice the core's worst case fits (it saturates, so a
    sample held up by its input reads as the largest value)."""
    return min(32, max(16, plan.worst_case_cycles().bit_length() + 1))


def _registers(plan: HardwarePlan, writable: bool = False, counters: bool = True,
               result_registers: bool = False) -> tuple[Register, ...]:
    geom0 = (plan.n_classes << 16) | plan.timesteps
    err_fields = _flag_fields()
    if writable:
        err_fields += (RegField("WRITE_REFUSED", WRITE_REFUSED_BIT, 1,
                                "a MEM_COMMIT came while the core was not idle"),)
    regs = (
        Register("ID", 0x00, "RO", WRAPPER_ID, "identification: 'SF' and the map version"),
        Register("CTRL", 0x04, "RW", 0x1, "control", (
            RegField("ENABLE", 0, 1, "accept samples on s_axis (1 after reset)"),
            RegField("SOFT_RESET", 1, 1, "write 1: reset the core and the stream datapath "
                                         "(a sample in flight is dropped); reads 0"),
        )),
        Register("STATUS", 0x08, "RO", 0x0, "status", (
            RegField("CORE_BUSY", 0, 1, "the core is running a sample"),
            RegField("IN_SAMPLE", 1, 1, "a sample's input has begun and its EOS not yet come"),
            RegField("RESULT_PENDING", 2, 1, "a result packet waits on m_axis"),
            RegField("IRQ", 3, 1, "the irq output"),
        )),
        Register("ERROR", 0x0C, "RW1C", 0x0, "sticky error flags of all samples since "
                 "cleared", err_fields),
        Register("IRQ_ENABLE", 0x10, "RW", 0x0, "interrupt enables", (
            RegField("DONE", 0, 1, "interrupt when a result packet has been sent"),
            RegField("ERROR", 1, 1, "interrupt when a sample had an error flag"),
        )),
        Register("IRQ_STATUS", 0x14, "RW1C", 0x0, "interrupt causes; irq = "
                 "|(IRQ_STATUS & IRQ_ENABLE)", (
            RegField("DONE", 0, 1, "a result packet has been sent"),
            RegField("ERROR", 1, 1, "a sample had an error flag"),
        )),
        *((Register("SAMPLES", 0x18, "RO", 0x0, f"results sent since reset ({COUNTER_BITS}-"
                    "bit, wraps)"),
           *((Register("ABORTED", 0x1C, "RO", 0x0, f"aborted samples since reset "
                       f"({COUNTER_BITS}-bit, wraps; with --result-registers)"),)
             if result_registers else ()),
           Register("CYCLES", 0x20, "RO", 0x0, f"clock cycles the core was busy with "
                    f"the last sample, from the cycle after its start to its done "
                    f"({cycle_bits(plan)}-bit for this network, saturates)"))
          if counters else ()),
        *((Register("RESULT", 0x24, "RO", 0x0, "the header word of the last result packet "
                    "(with --result-registers)"),) if result_registers else ()),
        Register("GEOMETRY0", 0x28, "RO", geom0, "the network: timesteps and classes", (
            RegField("TIMESTEPS", 0, 16, "steps per sample (T)"),
            RegField("CLASSES", 16, 16, "classes (output neurons)"),
        )),
        Register("GEOMETRY1", 0x2C, "RO", plan.input_size, "the network: input_size", (
            RegField("INPUTS", 0, 24, "inputs (valid indices 0..INPUTS-1)"),
        )),
    )
    return regs + (_mem_registers(plan) if writable else ())


@dataclass(frozen=True)
class AxisWrapperPlan:
    """Interface geometry of the ``axis`` wrapper of one core (see the module docstring).

    Attributes
    ----------
    in_data_bits : width of ``s_axis_tdata`` (a multiple of 8)
    index_field_bits : ``in_data_bits - 2``; indices are checked against ``input_size``
    nospike_bit, eos_bit : positions of the NOSPIKE and EOS flags in ``s_axis_tdata``
    out_data_bits : width of ``m_axis_tdata`` (32)
    score : ``count`` (unsigned spike counts) or ``membrane`` (signed last-step membranes)
    score_bits : width of a score before sign/zero extension to 32 bits
    packet_beats : beats per output packet (``1 + n_classes + len(taps)``)
    taps : ``(layer name, bits)`` of each per-layer spike-count tap (``taps=True``): the
        layer's spikes over the sample (all neurons, all steps), one beat each after the
        class scores; empty by default
    axil_addr_bits : width of the AXI-Lite addresses
    dedup_tag_bits : width of the duplicate check's step tags: a memory of
        :attr:`dedup_depth` tags holds, per input, the tag of the step it last spiked in
        (the tags run over ``2**dedup_tag_bits - 1`` steps); every ``2**dedup_tag_bits - 1``
        steps (and after reset) the wrapper clears it in :attr:`dedup_clear_cycles` cycles
        (``s_axis_tready`` low), so a tag never aliases
    registers : the AXI-Lite register map
    """

    timesteps: int
    input_size: int
    n_classes: int
    in_data_bits: int
    out_data_bits: int
    score: str
    score_bits: int
    axil_addr_bits: int
    dedup_tag_bits: int
    registers: tuple[Register, ...] = field(repr=False)
    kind: str = "axis"
    writable: bool = False
    taps: tuple[tuple[str, int], ...] = ()
    counters: bool = True
    check_duplicates: bool = True
    result_registers: bool = False

    @property
    def decode_bits(self) -> int:
        """AXI-Lite address bits ``[decode_bits + 1 : 2]`` the wrapper decodes (the map
        repeats every ``4 << decode_bits`` bytes)."""
        return max(1, max(r.offset >> 2 for r in self.registers).bit_length())

    @property
    def index_field_bits(self) -> int:
        return self.in_data_bits - 2

    @property
    def nospike_bit(self) -> int:
        return self.in_data_bits - 2

    @property
    def eos_bit(self) -> int:
        return self.in_data_bits - 1

    @property
    def packet_beats(self) -> int:
        return 1 + self.n_classes + len(self.taps)

    @property
    def dedup_clear_bits(self) -> int:
        """Width of the tag clear's address: the clear writes two tags a cycle, at the
        addresses ``2a`` and ``2a + 1`` for every state ``a`` of an XNOR LFSR of this width
        (every state but all-ones), so the memory holds ``2 * (2**bits - 1)`` tags."""
        b = 1
        while 2 * ((1 << b) - 1) < self.input_size:
            b += 1
        return b

    @property
    def dedup_depth(self) -> int:
        """Tags in the duplicate check's memory (one per input, and those the clear's
        address runs over past the last input: ``2 * (2**dedup_clear_bits - 1)``)."""
        return 2 * ((1 << self.dedup_clear_bits) - 1)

    @property
    def dedup_clear_cycles(self) -> int:
        """Cycles of one clear of the tag memory (``s_axis_tready`` low)."""
        return (1 << self.dedup_clear_bits) - 1

    @property
    def dedup_tag_start(self) -> int:
        """The step tag after reset and after every clear (tags are the states of an XOR
        LFSR of ``dedup_tag_bits``: never 0, the value of a cleared tag)."""
        return 1

    @property
    def dedup_tag_last(self) -> int:
        """The step tag whose step's end clears the memory (the state before
        :attr:`dedup_tag_start`): so the tags of the steps between two clears differ."""
        return lfsr_prev(self.dedup_tag_start, self.dedup_tag_bits, xnor=False)

    @property
    def dedup_clear_period(self) -> int:
        """Steps between two clears of the tag memory."""
        return (1 << self.dedup_tag_bits) - 1

    @property
    def header_fields(self) -> tuple[RegField, ...]:
        """Fields of the output header word (also the RESULT register)."""
        flags = tuple(RegField(n, 16 + b, 1, d) for n, (b, d) in FLAGS.items())
        return (RegField("PREDICTION", 0, 16, "the predicted class (0 when ABORTED)"),
                *flags,
                RegField("SEQUENCE", 24, 8, "sample number modulo 256 (counts every "
                                            "result packet from 0 after aresetn, as "
                                            "SAMPLES; SOFT_RESET keeps it)"))

    def register(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        raise KeyError(name)

    def encode_beat(self, index: int | None, *, last: bool, eos: bool = False) -> int:
        """The ``s_axis_tdata`` word of one beat (``index`` None: a NOSPIKE beat)."""
        word = (1 << self.nospike_bit) if index is None else int(index)
        if eos:
            word |= 1 << self.eos_bit
        return word

    def decode_header(self, word: int) -> dict[str, int]:
        """The fields of an output header word."""
        return {f.name: (int(word) >> f.lsb) & ((1 << f.width) - 1) for f in self.header_fields}

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": WRAPPER_FORMAT, "version": 1, "kind": self.kind,
            "timesteps": self.timesteps, "input_size": self.input_size,
            "n_classes": self.n_classes,
            "in_data_bits": self.in_data_bits, "index_field_bits": self.index_field_bits,
            "nospike_bit": self.nospike_bit, "eos_bit": self.eos_bit,
            "out_data_bits": self.out_data_bits, "score": self.score,
            "score_bits": self.score_bits, "packet_beats": self.packet_beats,
            "header": [f.as_dict() for f in self.header_fields],
            "axil_addr_bits": self.axil_addr_bits, "axil_data_bits": AXIL_DATA_BITS,
            "dedup_tag_bits": self.dedup_tag_bits, "dedup_depth": self.dedup_depth,
            "dedup_clear_cycles": self.dedup_clear_cycles,
            "registers": [r.as_dict() for r in self.registers],
            "writable_weights": self.writable,
            "taps": [{"layer": n, "bits": b} for n, b in self.taps],
            "counters": self.counters, "check_duplicates": self.check_duplicates,
            "result_registers": self.result_registers,
            "decode_bits": self.decode_bits,
        }

    @classmethod
    def from_dict(cls, d: Any, plan: HardwarePlan, *, where: str = "wrapper"
                  ) -> AxisWrapperPlan:
        """Read :meth:`as_dict` back; it must equal the wrapper plan of ``plan``."""
        if not isinstance(d, Mapping) or d.get("format") != WRAPPER_FORMAT:
            raise InputError(f"{where}: not a spikeforge wrapper plan")
        own = axis_wrapper_plan(plan, writable=bool(d.get("writable_weights", False)),
                                dedup_tag_bits=int(d.get("dedup_tag_bits", DEDUP_TAG_BITS)),
                                taps=bool(d.get("taps")),
                                counters=bool(d.get("counters", True)),
                                check_duplicates=bool(d.get("check_duplicates", True)),
                                result_registers=bool(d.get("result_registers", False)))
        if own.as_dict() != dict(d):
            raise InputError(f"{where}: the wrapper plan does not match the core's plan "
                             f"(generate the design again)")
        return own


def axis_wrapper_plan(plan: HardwarePlan, *, writable: bool = False,
                      dedup_tag_bits: int = DEDUP_TAG_BITS, taps: bool = False,
                      counters: bool = True, check_duplicates: bool = True,
                      result_registers: bool = False) -> AxisWrapperPlan:
    """The ``axis`` wrapper plan of a core's plan; ``writable``: with the weight window
    (run-time writable synapse memories, biases and thresholds, registers ``MEM_*``);
    ``dedup_tag_bits``: width of the duplicate check's step tags (2..16; the tag memory is
    cleared every ``2**dedup_tag_bits - 1`` steps); ``taps``: a per-layer spike-count
    beat for every neuron layer in each result packet; ``counters``: the SAMPLES, ABORTED
    and CYCLES registers; ``check_duplicates``: the duplicate check (without it a repeated
    index in a step is not detected and adds its weights twice); ``result_registers``:
    the RESULT register (the last packet's header) and, with the counters, ABORTED (both
    off by default: the packet header and the ERROR flags carry the same facts)."""
    if not isinstance(plan, HardwarePlan):
        raise TypeError(f"Plan must be a hwplan.HardwarePlan, not {plan!r}")
    if isinstance(dedup_tag_bits, bool) or not isinstance(dedup_tag_bits, int) or not (
            2 <= dedup_tag_bits <= 16):
        raise InputError(f"the duplicate check's tag width must be an integer between 2 and "
                         f"16, not {dedup_tag_bits!r}", param="dedup_tag_bits")
    if plan.n_classes > 1 << 16:
        raise InputError(f"the axis wrapper reports at most 65536 classes, not "
                         f"{plan.n_classes}", param="wrap")
    if check_duplicates and plan.input_size > 2 * ((1 << max(LFSR_TAPS)) - 1):
        raise InputError(f"the duplicate check handles at most "
                         f"{2 * ((1 << max(LFSR_TAPS)) - 1)} inputs, not {plan.input_size}",
                         param="check_duplicates")
    idx = index_bits(plan.input_size)
    in_bits = 8 * ceil_div(idx + 2, 8)
    membrane = plan.readout == "membrane"
    score_bits = plan.layers[-1].state_bits if membrane else plan.count_bits
    return AxisWrapperPlan(
        timesteps=plan.timesteps, input_size=plan.input_size, n_classes=plan.n_classes,
        in_data_bits=in_bits, out_data_bits=OUT_DATA_BITS,
        score="membrane" if membrane else "count", score_bits=score_bits,
        axil_addr_bits=8, dedup_tag_bits=dedup_tag_bits,
        registers=_registers(plan, writable, bool(counters), bool(result_registers)),
        writable=bool(writable), counters=bool(counters),
        check_duplicates=bool(check_duplicates), result_registers=bool(result_registers),
        taps=tuple((lp.name, max(1, (plan.timesteps * lp.out_features).bit_length()))
                   for lp in plan.layers) if taps else ())


WRAPPER_KINDS = {"axis": axis_wrapper_plan}
"""Wrapper kinds ``generate --wrap`` builds: kind -> plan function."""


# ---------------------------------------------------------------- documentation tables
def register_table(wp: AxisWrapperPlan) -> str:
    """The register map as a Markdown table (docs/integration.md)."""
    lines = ["| offset | register | access | reset | bits | description |",
             "|---|---|---|---|---|---|"]
    for r in wp.registers:
        lines.append(f"| 0x{r.offset:02X} | {r.name} | {r.access} | 0x{r.reset:08X} | "
                     f"31:0 | {r.doc} |")
        for f in r.fields:
            bits = f"{f.lsb}" if f.width == 1 else f"{f.lsb + f.width - 1}:{f.lsb}"
            lines.append(f"| | | | | {bits} {f.name} | {f.doc} |")
    return "\n".join(lines)


def stream_tables(wp: AxisWrapperPlan) -> str:
    """The input word, the output packet and the header as Markdown tables."""
    out = [f"Input word (`s_axis_tdata`, {wp.in_data_bits} bits for this network):", "",
           "| bits | field | meaning |", "|---|---|---|",
           (f"| {wp.index_field_bits - 1}:0 | INDEX | input that spiked at this step "
            f"(valid: 0..{wp.input_size - 1}) |"),
           f"| {wp.nospike_bit} | NOSPIKE | the beat carries no spike |",
           f"| {wp.eos_bit} | EOS | end of sample (with the T-th TLAST) |",
           "| tlast | TLAST | end of step |", "",
           (f"Output packet (`m_axis_tdata`, {wp.out_data_bits} bits, {wp.packet_beats} "
            "beats, TLAST on the last):"), "",
           "| beat | content |", "|---|---|",
           "| 0 | header (below) |",
           f"| 1..{wp.n_classes} | score of class 0..{wp.n_classes - 1}: "
           + ("last-step membrane, signed, sign-extended |" if wp.score == "membrane"
              else "spike count over the sample, unsigned |"),
           *([(f"| {wp.n_classes + 1}..{wp.n_classes + len(wp.taps)} | taps (with "
               f"`--taps`): spikes of layer {', '.join(n for n, _ in wp.taps)} over the "
               "sample (all neurons and steps), unsigned |")] if wp.taps else []),
           "", "Header word (also the RESULT register):", "",
           "| bits | field | meaning |", "|---|---|---|"]
    for f in wp.header_fields:
        bits = f"{f.lsb}" if f.width == 1 else f"{f.lsb + f.width - 1}:{f.lsb}"
        out.append(f"| {bits} | {f.name} | {f.doc} |")
    return "\n".join(out)


# ---------------------------------------------------------------- host side: weight loads
def weight_writes(plan: HardwarePlan, wp: AxisWrapperPlan, net: Any, *,
                  design_net: Any = None) -> list[tuple[int, int]]:
    """The AXI-Lite writes ``(offset, value)`` that load ``net``'s weights, biases and
    thresholds into a running design with the weight window (``generate --wrap axis
    --writable-weights``).

    ``net`` must equal the design's network in its architecture (shapes, bits, leaks,
    resets, timesteps, readout, which layers have a bias); its weights, biases and
    thresholds may differ as long as every sum stays inside the design's widths (each
    layer plan's ``acc_bits`` for the synaptic sums, ``syn_bias_bits`` and ``sum_bits``
    with the biases), so the loaded network computes exactly; else
    :class:`pysim.InputError`. Leaks and resets are not in the plan: give the generated
    network as ``design_net`` to check them too.
    """
    from .plan import pack_bias_words, pack_synapse_words, synaptic_range

    if not wp.writable:
        raise InputError("the design has no weight window (generate it with "
                         "--writable-weights)", param="design")
    if not same_architecture(net, plan):
        raise InputError("the network to load differs from the design's in timesteps, "
                         "inputs, readout, depth, a layer's shape, bits, leak, reset or "
                         "bias presence", param="net")
    if design_net is not None and not same_but_parameters(design_net, net):
        raise InputError("the network to load differs from the design's network in more "
                         "than weights, biases and thresholds", param="net")
    regs = {r.name: r.offset for r in wp.registers}
    n_data = sum(1 for r in wp.registers if r.name.startswith("MEM_DATA"))
    writes: list[tuple[int, int]] = []

    def commit(words: list[int], width: int) -> None:
        writes.append((regs["MEM_ADDR"], 0))
        for word in words:
            for k in range(n_data):
                if k * 32 < width:
                    writes.append((regs[f"MEM_DATA{k}"], (word >> (32 * k)) & 0xFFFFFFFF))
            writes.append((regs["MEM_COMMIT"], 1))

    for i, (layer, lp) in enumerate(zip(net.layers, plan.layers, strict=True)):
        lo, hi = synaptic_range(layer.weight)
        acc = lp.acc_bits
        if lo < -(1 << (acc - 1)) or hi > (1 << (acc - 1)) - 1:
            raise InputError(f"layer {layer.name!r}: synaptic sums {lo}..{hi} exceed the "
                             f"design's {acc}-bit accumulator", param="net")
        c = lp.core
        if layer.bias is not None:
            bmin, bmax = min(0, int(layer.bias.min())), max(0, int(layer.bias.max()))
            amin, amax = -(1 << (acc - 1)), (1 << (acc - 1)) - 1
            smin, smax = -(1 << (lp.state_bits - 1)), (1 << (lp.state_bits - 1)) - 1
            for what, bits, a, b in (
                    ("synaptic sum + bias", c.syn_bias_bits, amin + bmin, amax + bmax),
                    ("membrane sum", c.sum_bits, smin + amin + bmin, smax + amax + bmax)):
                if a < -(1 << (bits - 1)) or b > (1 << (bits - 1)) - 1:
                    raise InputError(f"layer {layer.name!r}: biases {bmin}..{bmax} make the "
                                     f"{what} exceed the design's {bits} bits", param="net")
        writes.append((regs["MEM_SELECT"], i | (MEM_KINDS["weights"] << 8)))
        commit(pack_synapse_words(layer.weight, layer.weight_bits, lp.lanes),
               lp.synapse.memory.width)
        if layer.bias is not None:
            writes.append((regs["MEM_SELECT"], i | (MEM_KINDS["biases"] << 8)))
            commit(pack_bias_words(layer.bias, lp.state_bits, c.update_units), c.bias.width)
        writes.append((regs["MEM_SELECT"], i | (MEM_KINDS["threshold"] << 8)))
        commit([int(layer.threshold) & ((1 << lp.state_bits) - 1)], lp.state_bits)
    return writes


def same_architecture(net: Any, plan: HardwarePlan) -> bool:
    """True when ``net`` fits the design of ``plan`` but for its weights, biases and
    thresholds (what the weight window loads): the same timesteps, inputs, readout,
    layers (shapes, bits, leaks, resets) and the same layers with a bias."""
    if (net.timesteps, net.input_size, net.readout.value, len(net.layers)) != (
            plan.timesteps, plan.input_size, plan.readout, len(plan.layers)):
        return False
    for layer, lp in zip(net.layers, plan.layers, strict=True):
        if getattr(lp, "kind", "dense") != "dense" or not hasattr(layer, "in_features"):
            return False
        if (layer.in_features, layer.out_features, layer.weight_bits, layer.state_bits) != (
                lp.in_features, lp.out_features, lp.weight_bits, lp.state_bits):
            return False
        if (layer.bias is not None) != (lp.core.bias is not None):
            return False
    return True


def same_but_parameters(a: Any, b: Any) -> bool:
    """True when networks ``a`` and ``b`` differ at most in their weights, biases and
    thresholds (and not in which layers have a bias)."""
    if (a.timesteps, a.input_size, a.readout, len(a.layers)) != (
            b.timesteps, b.input_size, b.readout, len(b.layers)):
        return False
    for x, y in zip(a.layers, b.layers, strict=True):
        if (x.name, x.in_features, x.out_features, x.weight_bits, x.state_bits,
                x.leak_shift, x.reset) != (y.name, y.in_features, y.out_features,
                                           y.weight_bits, y.state_bits, y.leak_shift,
                                           y.reset):
            return False
        if (x.bias is None) != (y.bias is None):
            return False
    return True


def same_but_weights(a: Any, b: Any) -> bool:
    """True when networks ``a`` and ``b`` differ at most in their weight matrices."""
    import numpy as np

    if not same_but_parameters(a, b):
        return False
    for x, y in zip(a.layers, b.layers, strict=True):
        if x.threshold != y.threshold or (
                x.bias is not None and not np.array_equal(x.bias, y.bias)):
            return False
    return True


# ---------------------------------------------------------------- host side: the UART link
def uart_beat_bytes(wp: AxisWrapperPlan) -> int:
    """Bytes per input beat on the board's UART link: the ``s_axis_tdata`` word with
    TLAST as bit ``in_data_bits``, little-endian."""
    return ceil_div(wp.in_data_bits + 1, 8)


def sample_beats(wp: AxisWrapperPlan, x: Any) -> list[tuple[int, bool]]:
    """The input beats ``(tdata, tlast)`` of one sample ``x`` (T, input_size) of 0/1:
    spikes in ascending order, a NOSPIKE beat for an empty step, EOS on the last."""
    import numpy as np

    arr = np.asarray(x)
    beats: list[tuple[int, bool]] = []
    T = arr.shape[0]
    for t in range(T):
        idx = [int(i) for i in np.flatnonzero(arr[t])]
        step = [wp.encode_beat(i, last=False) for i in idx] or [wp.encode_beat(None,
                                                                              last=True)]
        if t == T - 1:
            step[-1] |= 1 << wp.eos_bit
        beats += [(w, k == len(step) - 1) for k, w in enumerate(step)]
    return beats


def encode_uart_sample(wp: AxisWrapperPlan, x: Any) -> bytes:
    """The bytes the host sends over the UART link for one sample."""
    n = uart_beat_bytes(wp)
    out = bytearray()
    for word, last in sample_beats(wp, x):
        out += (word | (int(last) << wp.in_data_bits)).to_bytes(n, "little")
    return bytes(out)


def packet_bytes(wp: AxisWrapperPlan) -> int:
    """Bytes of one result packet on the UART link (32-bit words, little-endian)."""
    return 4 * wp.packet_beats


def decode_packet(wp: AxisWrapperPlan, data: bytes) -> dict[str, Any]:
    """One result packet (``packet_bytes`` bytes) as prediction, flags, sequence, scores."""
    words = [int.from_bytes(data[4 * k:4 * k + 4], "little") for k in range(wp.packet_beats)]
    hdr = wp.decode_header(words[0])
    n = wp.n_classes
    scores = [((w ^ (1 << 31)) - (1 << 31)) if wp.score == "membrane" else w
              for w in words[1:1 + n]]
    return {"prediction": hdr["PREDICTION"], "sequence": hdr["SEQUENCE"],
            "flags": {k: hdr[k] for k in FLAGS}, "aborted": bool(hdr["ABORTED"]),
            "scores": scores, "header": words[0],
            "taps": {name: w for (name, _), w in zip(wp.taps, words[1 + n:], strict=True)}}


def main(argv: list[str] | None = None) -> int:
    """``python -m hwplan.wrapper NET [--writable-weights]``: print the register map and
    stream tables of NET's wrapper (the tables of docs/integration.md)."""
    import argparse

    from pysim import load_network

    from .plan import plan_network

    ap = argparse.ArgumentParser(prog="python -m hwplan.wrapper", description=main.__doc__)
    ap.add_argument("net")
    ap.add_argument("--writable-weights", action="store_true")
    args = ap.parse_args(argv)
    wp = axis_wrapper_plan(plan_network(load_network(args.net)),
                           writable=args.writable_weights)
    print(register_table(wp) + "\n\n" + stream_tables(wp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
