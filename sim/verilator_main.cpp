// spikeforge: cocotb's Verilator main loop with the testbench clock toggled in C++.
//
// Derived from cocotb 2.1's share/lib/verilator/verilator.cpp (Copyright cocotb
// contributors, Revised BSD License, SPDX-License-Identifier: BSD-3-Clause); the
// cocotb/VPI scheduling of every time step is unchanged. What differs:
//
// * the top's input port `clk` is toggled here every SF_HALF_PERIOD_NS (default 5 ns,
//   first rising edge at 5 ns: the same waveform as the wrapper's `always #5 clk = ~clk`),
//   so the design needs no Verilog delay (built with --no-timing) and cocotb no Clock;
// * a fast path: while cocotb has nothing scheduled but value-change callbacks (no
//   ReadWrite / ReadOnly / NextSimTime callback, no timer due before the next clock
//   edge), a clock edge is one eval_step() and one value-callback check; as soon as a
//   callback fired, a VPI write is pending or any other callback is registered, the
//   time step is finished through cocotb's full sequence below.
//
// Used by sim.runner for the buffered testbench (clock="cpp"); see sim/wrapper.py.

#include <libgen.h>  // basename
#include <stdio.h>   // stderr, fprintf

#include <memory>  // std::unique_ptr
#include <string>  // std::string

#include "Vtop.h"
#include "verilated.h"
#include "verilated_vpi.h"

#ifndef SF_HALF_PERIOD_NS
#define SF_HALF_PERIOD_NS 5
#endif

static vluint64_t main_time = 0;  // Current simulation time

double sc_time_stamp() {  // Called by $time in Verilog
    return main_time;
}

extern "C" {
void vlog_startup_routines_bootstrap(void);
}

static inline bool settle_value_callbacks() {
    bool cbs_called, again;
    cbs_called = again = VerilatedVpi::callValueCbs();
    while (again) {
        again = VerilatedVpi::callValueCbs();
    }
    return cbs_called;
}

void wrap_up() { VerilatedVpi::callCbs(cbEndOfSimulation); }

// Nothing but value-change callbacks scheduled before `edge`.
static inline bool quiet_until(vluint64_t edge) {
    return !VerilatedVpi::hasCbs(cbReadWriteSynch) && !VerilatedVpi::hasCbs(cbReadOnlySynch) &&
           !VerilatedVpi::hasCbs(cbNextSimTime) && VerilatedVpi::cbNextDeadline() > edge &&
           !Verilated::gotFinish();
}

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    std::unique_ptr<Vtop> top(new Vtop(""));
    Verilated::fatalOnVpiError(false);  // otherwise it will fail on systemtf

    // half period in units of the time precision (e.g. 5 ns at 1 ps = 5000)
    vluint64_t half = SF_HALF_PERIOD_NS;
    for (int p = Verilated::threadContextp()->timeprecision(); p < -9; ++p) half *= 10;
    vluint64_t next_edge = half;
    top->clk = 0;

    vlog_startup_routines_bootstrap();
    Verilated::addExitCb([](void *) { wrap_up(); }, nullptr);
    VerilatedVpi::callCbs(cbStartOfSimulation);
    settle_value_callbacks();

    while (!Verilated::gotFinish()) {
        do {
            do {
                top->eval_step();
                VerilatedVpi::clearEvalNeeded();
                VerilatedVpi::doInertialPuts();
                settle_value_callbacks();
            } while (VerilatedVpi::evalNeeded());
            VerilatedVpi::callCbs(cbReadWriteSynch);
            VerilatedVpi::doInertialPuts();
            settle_value_callbacks();
        } while (VerilatedVpi::evalNeeded());

        top->eval_end_step();
        VerilatedVpi::callCbs(cbReadOnlySynch);

        // fast path: clock edges with nothing else to do
        bool pending = false;
        while (quiet_until(next_edge)) {
            main_time = next_edge;
            next_edge += half;
            top->clk = !top->clk;
            top->eval_step();
            if (settle_value_callbacks() || VerilatedVpi::evalNeeded()) {
                pending = true;  // finish this time step the cocotb way
                break;
            }
            top->eval_end_step();
        }
        if (pending) continue;
        if (Verilated::gotFinish()) break;

        // cocotb's timers (cbAfterDelay) or the next clock edge, whichever comes first
        vluint64_t next_time = std::min(VerilatedVpi::cbNextDeadline(), next_edge);
        main_time = next_time;
        VerilatedVpi::callCbs(cbNextSimTime);
        settle_value_callbacks();
        if (main_time == next_edge) {
            next_edge += half;
            top->clk = !top->clk;
        }
        VerilatedVpi::callTimedCbs();
        settle_value_callbacks();
    }

    top->final();
    wrap_up();
    if (Verilated::threadContextp()->errorCount() > 0) {
        return 1;
    }
    return 0;
}
