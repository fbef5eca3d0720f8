"""The buffered testbench wrapper: a Verilog top that drives and records the design itself.

Per-cycle Python (a cocotb coroutine awaiting every clock edge) caps a cocotb + Verilator
testbench at about 10^5 cycles/s. The wrapper generated here moves the per-cycle work
into the simulator:

* the clock (``clock``, one of :data:`CLOCKS`): with ``"cpp"`` (Verilator's default)
  and ``"gpi"`` it is an input port ``clk`` of the wrapper, toggled by the simulation's
  C++ main loop (``sim/verilator_main.cpp``) or by cocotb's GPI clock
  (``Clock(..., impl="gpi")``); no Verilog delay is left, so Verilator builds without
  ``--timing``. With ``"verilog"`` (Icarus's default) the wrapper generates it itself
  (``always #5``; Verilator then needs ``--timing``). All three give the same waveform,
  10 ns period, first rising edge at 5 ns;
* a reset sequence, then for every sample a one-cycle ``start`` pulse;
* the **driver**: input beats are read from a text file (one decimal word
  ``{last, index}`` per beat, all samples back to back) with ``$fscanf`` and presented on
  the valid/ready input stream, ``valid`` held high, advancing on every transfer; after
  the sample's ``T``-th marker it waits for ``done``;
* the **monitors**: every layer tap's beat, every start and every ``done`` (with the
  cycle count and the prediction) is appended to a log file with ``$fwrite``;
* a watchdog that stops on a sample taking more than ``+sf_timeout`` cycles;
* ``finished`` goes high after the last sample; cocotb awaits only that edge;
* optional stress (plusargs, all off by default): ``+sf_gap=P`` drops ``valid`` for a
  cycle after a transfer (and keeps it low) with probability ``P`` percent (seed
  ``+sf_seed``); ``+sf_restart=1`` pulses ``start`` every 8th cycle while the design is
  busy (it must be ignored); ``+sf_reset_sample=K +sf_reset_cyc=R`` asserts reset ``R``
  cycles into sample ``K``, discards that attempt's tap beats and runs the sample again
  from its first beat. At the end a record ``6 stalls gaps ignored_starts resets`` counts
  them.

The log has one record per line, five decimal integers ``kind a b c d``
(see :mod:`sim.checker` for the kinds). Every port name and width comes from the
design's ``portmap.json``; nothing about the design is hard-coded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwplan import HardwarePlan
from pysim.errors import InputError

__all__ = ["CLOCKS", "WRAPPER_TOP", "Field", "PortMap", "wrapper_verilog"]

WRAPPER_TOP = "sf_tb_wrapper"
CLOCKS = ("cpp", "gpi", "verilog")
"""Who toggles the wrapper's clock: the Verilator main loop in C++, cocotb's GPI, or the
wrapper's own ``always #5``."""
_INPUTS = ("start", "in_valid", "in_index", "in_last")
_OUTPUTS = ("busy", "done", "prediction", "in_ready")
_LOAD_INPUTS = ("load_valid", "load_data")
_LOAD_OUTPUTS = ("load_ready", "loaded", "load_error")
"""Ports of a design with weights in SPRAM (:class:`hdl.spram.SpramNetwork`): the
wrapper then streams the load image (``+sf_load=FILE``, one byte per line, ``+sf_load_n``
bytes) after every reset, and logs ``7 cycle_loaded load_error loaded 0`` at the end."""


@dataclass(frozen=True)
class Field:
    """Bits ``[lsb + width - 1 : lsb]`` of Verilog port ``port``."""

    port: str
    lsb: int
    width: int


@dataclass(frozen=True)
class PortMap:
    """The parts of ``portmap.json`` the testbench uses, validated."""

    top: str
    clock: str
    reset: str
    timesteps: int
    input_size: int
    n_classes: int
    readout: str
    fields: dict[str, Field]
    taps: list[dict[str, Field]]
    tap_layers: list[str]
    plan: HardwarePlan
    port_widths: dict[str, int]
    raw: dict[str, Any]

    @classmethod
    def from_dict(cls, pm: dict[str, Any]) -> PortMap:
        """Validate a portmap dict; raise :class:`~pysim.errors.InputError` naming the field."""
        def field(where: str, d: Any) -> Field:
            if not isinstance(d, dict) or "name" not in d or "width" not in d:
                raise InputError(f"portmap: {where}: needs 'name' and 'width'")
            return Field(str(d["name"]), int(d.get("lsb", 0)), int(d["width"]))

        try:
            ports = pm["ports"]
            fields = {k: field(f"ports.{k}", ports[k]) for k in _INPUTS + _OUTPUTS}
            fields.update({k: field(f"ports.{k}", ports[k])
                           for k in _LOAD_INPUTS + _LOAD_OUTPUTS if k in ports})
            taps = [{k: field(f"taps[{i}].{k}", t[k]) for k in ("valid", "index", "last")}
                    for i, t in enumerate(pm["taps"])]
            tap_layers = [str(t["layer"]) for t in pm["taps"]]
            plan = HardwarePlan.from_dict(pm["plan"], where="portmap: field 'plan'")
            obj = cls(
                top=str(pm["top"]), clock=str(pm.get("clock", "clk")),
                reset=str(pm.get("reset", "rst")), timesteps=plan.timesteps,
                input_size=plan.input_size, n_classes=plan.n_classes,
                readout=plan.readout, fields=fields, taps=taps,
                tap_layers=tap_layers, plan=plan, port_widths={}, raw=pm,
            )
        except KeyError as exc:
            raise InputError(f"portmap: missing field {exc}") from None
        widths: dict[str, int] = {}
        for f in list(fields.values()) + [f for t in taps for f in t.values()]:
            widths[f.port] = max(widths.get(f.port, 0), f.lsb + f.width)
        object.__setattr__(obj, "port_widths", widths)
        return obj

    @property
    def lanes(self) -> dict[str, int]:
        """Lanes per layer of the design."""
        return self.plan.lanes

    @property
    def has_load(self) -> bool:
        """The design takes its weights through a load port (SPRAM)."""
        return "load_valid" in self.fields

    @property
    def input_ports(self) -> list[str]:
        """Verilog ports the testbench drives (besides clock and reset)."""
        return sorted({self.fields[k].port for k in _INPUTS + _LOAD_INPUTS
                       if k in self.fields})

    @property
    def output_ports(self) -> list[str]:
        out = {self.fields[k].port for k in _OUTPUTS + _LOAD_OUTPUTS if k in self.fields}
        out |= {f.port for t in self.taps for f in t.values()}
        return sorted(out - set(self.input_ports))


def _sl(wire: str, f: Field, port_width: int) -> str:
    if port_width == 1 and f.lsb == 0 and f.width == 1:
        return wire
    if f.width == 1:
        return f"{wire}[{f.lsb}]"
    return f"{wire}[{f.lsb + f.width - 1}:{f.lsb}]"


def _load_driver() -> list[str]:
    """The load-port driver: after every reset, the load image byte by byte."""
    return [
        "  always @(posedge clk) begin",
        "    if (rst) begin",
        "      load_valid <= 1'b0;",
        "      load_left <= load_n;",
        "      if (fload != 0) rc = $fseek(fload, 0, 0);",
        "    end else begin",
        "      if (o_loaded[0] && cyc_loaded < 0) cyc_loaded <= cyc;",
        "      if (!load_valid || o_load_ready[0]) begin",
        "        if (load_left > 0 && fload != 0) begin",
        "          rc = $fscanf(fload, \"%d\\n\", load_word);",
        "          load_data <= load_word[7:0];",
        "          load_valid <= 1'b1;",
        "          load_left <= load_left - 1;",
        "        end else begin",
        "          load_valid <= 1'b0;",
        "        end",
        "      end",
        "    end",
        "  end",
    ]


def wrapper_verilog(pm: PortMap, *, clock: str = "cpp") -> str:
    """Return the Verilog of the buffered testbench top for the design described by ``pm``.

    ``clock`` (one of :data:`CLOCKS`): ``"cpp"`` and ``"gpi"`` make ``clk`` an input
    port for the simulation to drive; ``"verilog"`` generates it inside (``always #5``).
    """
    if clock not in CLOCKS:
        raise InputError(f"unknown clock {clock!r}: choose one of {', '.join(CLOCKS)}",
                         param="clock")
    f = pm.fields
    iw = f["in_index"].width
    ww = iw + 1
    pw = f["prediction"].width
    T = pm.timesteps
    w = pm.port_widths
    lines = [
        "// spikeforge buffered testbench wrapper (generated from portmap.json)",
        "`timescale 1ns/1ps",
        (f"module {WRAPPER_TOP}(input clk, output reg finished = 1'b0, "
         "output reg [31:0] samples_done = 0);" if clock != "verilog" else
         f"module {WRAPPER_TOP}(output reg finished = 1'b0, output reg [31:0] samples_done = 0);"),
        *(() if clock != "verilog" else ("  reg clk = 1'b0;", "  always #5 clk = ~clk;")),
        "  reg rst = 1'b1;",
        "  reg start = 1'b0;",
        "  reg in_valid = 1'b0;",
        f"  reg [{ww - 1}:0] in_word = {ww}'d0;",
        f"  wire in_last = in_word[{iw}];",
        f"  wire [{iw - 1}:0] in_index = in_word[{iw - 1}:0];",
    ]
    for port in pm.input_ports + pm.output_ports:
        lines.append(f"  wire [{w[port] - 1}:0] p_{port};")
    # inputs: drive each field's slice of its port
    lines.append("  wire extra_start;")
    for role, src in (("start", "start | extra_start"), ("in_valid", "in_valid"),
                      ("in_index", "in_index"), ("in_last", "in_last")):
        fl = f[role]
        lines.append(f"  assign {_sl('p_' + fl.port, fl, w[fl.port])} = {src};")
    if pm.has_load:
        lines += ["  reg load_valid = 1'b0;", "  reg [7:0] load_data = 8'd0;"]
        for role, src in (("load_valid", "load_valid"), ("load_data", "load_data")):
            fl = f[role]
            lines.append(f"  assign {_sl('p_' + fl.port, fl, w[fl.port])} = {src};")
    for role in _OUTPUTS + (_LOAD_OUTPUTS if pm.has_load else ()):
        fl = f[role]
        lines.append(f"  wire [{fl.width - 1}:0] o_{role} = "
                     f"{_sl('p_' + fl.port, fl, w[fl.port])};")
    if pm.has_load:
        lines += ["  wire o_load_error_any = o_load_error[0];",
                  "  wire o_loaded_any = o_loaded[0];"]
    else:
        lines += ["  wire o_load_error_any = 1'b0;", "  wire o_loaded_any = 1'b0;"]
    for i, tap in enumerate(pm.taps):
        for k in ("valid", "index", "last"):
            fl = tap[k]
            lines.append(f"  wire [{fl.width - 1}:0] tap{i}_{k} = "
                         f"{_sl('p_' + fl.port, fl, w[fl.port])};")
    lines.append("  assign extra_start = (restart != 0) && (state == 3'd3 || state == 3'd4) "
                 "&& o_busy[0] && (cyc % 8 == 0);")
    conns = [f".{pm.clock}(clk)", f".{pm.reset}(rst)"]
    conns += [f".{port}(p_{port})" for port in pm.input_ports + pm.output_ports]
    lines.append(f"  {pm.top} dut (")
    lines.append(",\n".join(f"    {c}" for c in conns))
    lines.append("  );")
    lines += [
        "  reg [8*4096-1:0] in_name, log_name, load_name;",
        "  integer fload = 0, load_left = 0, load_n = 0, load_word = 0, cyc_loaded = -1;",
        "  integer fin, flog, rc, n_samples, timeout;",
        "  integer cyc = 0, cyc_start = 0, sample = 0, markers = 0, wait_cyc = 0;",
        "  integer gap_pct = 0, seed = 1, restart = 0, reset_sample = -1, reset_cyc = 0;",
        "  integer n_stall = 0, n_gap = 0, n_restart = 0, n_reset = 0, pos = 0, rst_cnt = 0;",
        "  reg discard = 1'b0;",
        "  reg [2:0] state = 3'd0;",
        f"  reg [{ww - 1}:0] word;",
        "  initial begin",
        "    finished = 1'b0;",
        "    samples_done = 32'd0;",
        "    if (!$value$plusargs(\"sf_gap=%d\", gap_pct)) gap_pct = 0;",
        "    if (!$value$plusargs(\"sf_seed=%d\", seed)) seed = 1;",
        "    if (!$value$plusargs(\"sf_restart=%d\", restart)) restart = 0;",
        "    if (!$value$plusargs(\"sf_reset_sample=%d\", reset_sample)) reset_sample = -1;",
        "    if (!$value$plusargs(\"sf_reset_cyc=%d\", reset_cyc)) reset_cyc = 0;",
        "    if (!$value$plusargs(\"sf_in=%s\", in_name)) $display(\"sf: +sf_in missing\");",
        "    if (!$value$plusargs(\"sf_log=%s\", log_name)) $display(\"sf: +sf_log missing\");",
        "    if (!$value$plusargs(\"sf_n=%d\", n_samples)) n_samples = 0;",
        "    if (!$value$plusargs(\"sf_timeout=%d\", timeout)) timeout = 1000000;",
        "    if (!$value$plusargs(\"sf_load_n=%d\", load_n)) load_n = 0;",
        "    if (load_n > 0 && $value$plusargs(\"sf_load=%s\", load_name))",
        "      fload = $fopen(load_name, \"r\");",
        "    fin = $fopen(in_name, \"r\");",
        "    flog = $fopen(log_name, \"w\");",
        "  end",
        "  // states: 0 reset, 1 idle, 2 start pulse, 3 stream, 4 wait for done, 5 end",
        "  always @(posedge clk) begin",
        "    cyc <= cyc + 1;",
    ]
    # monitors first, so a tap beat in the cycle of done is logged before the done record
    for i in range(len(pm.taps)):
        lines.append(f"    if (!rst && !discard && tap{i}_valid[0]) $fwrite(flog, \"0 %0d {i} %0d %0d\\n\", "
                     f"(state == 3'd3 || state == 3'd4) ? sample : -1, tap{i}_last[0], "
                     f"tap{i}_index);")
    lines += [
        "    if (start) cyc_start <= cyc;",
        "    if (extra_start) n_restart <= n_restart + 1;",
        "    if (in_valid && !o_in_ready[0] && state == 3'd3) n_stall <= n_stall + 1;",
        "    if (!in_valid && state == 3'd3) n_gap <= n_gap + 1;",
        "    case (state)",
        "      3'd0: if (cyc == 3) begin rst <= 1'b0; state <= 3'd1; end",
        "      3'd1: if (o_busy[0]) begin",
        "        wait_cyc <= wait_cyc + 1;",
        "        if (wait_cyc > timeout) begin",
        "          $fwrite(flog, \"3 %0d %0d 0 0\\n\", sample, cyc);",
        "          $fflush(flog);",
        "          finished <= 1'b1;",
        "          state <= 3'd5;",
        "        end",
        "      end else begin",
        "        wait_cyc <= 0;",
        "        if (sample < n_samples) begin",
        "          start <= 1'b1;",
        "          markers <= 0;",
        "          pos = $ftell(fin);",
        "          discard <= (sample == reset_sample) && (n_reset == 0);",
        "          if (!((sample == reset_sample) && (n_reset == 0)))",
        "            $fwrite(flog, \"1 %0d %0d 0 0\\n\", sample, cyc);",
        "          state <= 3'd2;",
        "        end else begin",
        ("          if (load_n > 0) $fwrite(flog, \"7 %0d %0d %0d 0\\n\", cyc_loaded, "
         "o_load_error_any, o_loaded_any);"),
        "          $fwrite(flog, \"6 %0d %0d %0d %0d\\n\", n_stall, n_gap, n_restart, n_reset);",
        "          finished <= 1'b1;",
        "          $fflush(flog);",
        "          state <= 3'd5;",
        "        end",
        "      end",
        "      3'd2: begin",
        "        start <= 1'b0;",
        "        rc = $fscanf(fin, \"%d\\n\", word);",
        "        in_word <= word;",
        "        in_valid <= 1'b1;",
        "        state <= 3'd3;",
        "      end",
        "      3'd3: if (in_valid && o_in_ready[0]) begin",
        f"        if (in_word[{iw}] && markers == {T - 1}) begin",
        "          in_valid <= 1'b0;",
        "          state <= 3'd4;",
        "        end else begin",
        f"          if (in_word[{iw}]) markers <= markers + 1;",
        "          rc = $fscanf(fin, \"%d\\n\", word);",
        "          in_word <= word;",
        "          if (gap_pct > 0 && {$random(seed)} % 100 < gap_pct) in_valid <= 1'b0;",
        "        end",
        "      end else if (!in_valid) begin",
        "        if ({$random(seed)} % 100 >= gap_pct) in_valid <= 1'b1;",
        "      end",
        "      3'd6: begin",
        "        rst_cnt <= rst_cnt + 1;",
        "        if (rst_cnt == 3) begin",
        "          rst <= 1'b0;",
        "          discard <= 1'b0;",
        "          rc = $fseek(fin, pos, 0);",
        "          state <= 3'd1;",
        "        end",
        "      end",
        "      default: ;",
        "    endcase",
        "    if (discard && (state == 3'd3 || state == 3'd4) && cyc - cyc_start == reset_cyc) begin",
        "      rst <= 1'b1;",
        "      rst_cnt <= 0;",
        "      in_valid <= 1'b0;",
        "      n_reset <= n_reset + 1;",
        "      state <= 3'd6;",
        "    end",
        "    if (o_done[0] && !discard && (state == 3'd3 || state == 3'd4)) begin",
        "      if (state == 3'd3) $fwrite(flog, \"4 %0d %0d 0 0\\n\", sample, markers);",
        "      $fwrite(flog, \"2 %0d %0d %0d 0\\n\", sample, cyc - cyc_start, o_prediction);",
        "      $fflush(flog);",
        "      sample <= sample + 1;",
        "      samples_done <= samples_done + 1;",
        "      in_valid <= 1'b0;",
        "      state <= (state == 3'd3) ? 3'd5 : 3'd1;",
        "      if (state == 3'd3) finished <= 1'b1;",
        "    end else if ((state == 3'd3 || state == 3'd4) && cyc - cyc_start > timeout) begin",
        "      $fwrite(flog, \"3 %0d %0d %0d 0\\n\", sample, cyc, markers);",
        "      $fflush(flog);",
        "      finished <= 1'b1;",
        "      state <= 3'd5;",
        "    end",
        "  end",
        *(_load_driver() if pm.has_load else []),
        "endmodule",
        "",
    ]
    _ = pw
    return "\n".join(lines)
