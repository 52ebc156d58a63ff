"""The C++ driver of the fast harness, generated for one design's ports.

The run loop is the same for every design; only the port accessors are generated. Each cycle
follows the cocotb drivers of :mod:`moetile.sim.cocotb_streams` exactly: with the clock low,
every source that shows no item may show its next one (if its traffic allows), every sink sets
``ready`` from its traffic; the model settles; a transfer is every stream whose ``valid`` and
``ready`` are both high, stamped with the cycle and, for a sink, its payload copied; then the
rising edge. Cycle 0 follows reset (two cycles) and one idle cycle, as in the cocotb benches.
"""

from .ports import Port, StreamPort

__all__ = ["driver_source"]

_PRELUDE = r"""
#include <cstdint>
#include <cstring>
#include <memory>
#include "Vtop.h"
#include "verilated.h"
#if FS_TRACE == 1
#include "verilated_vcd_c.h"
typedef VerilatedVcdC Trace;
#elif FS_TRACE == 2
#include "verilated_fst_c.h"
typedef VerilatedFstC Trace;
#endif

#define FS_EXPORT extern "C" __attribute__((visibility("default")))

enum { TRAFFIC_NONE = 0, TRAFFIC_RANDOM = 1, TRAFFIC_PATTERN = 2, TRAFFIC_SCHEDULE = 3 };
enum { RUN_DONE = 0, RUN_DEADLINE = 1, RUN_EXTRA = 2, RUN_STOPPED = 3 };

struct fs_stream {
    uint32_t* data;          // count * words payload words
    int64_t count;           // transactions to send (source) or expected (sink)
    int64_t* stamps;         // count cycle stamps, written
    int32_t mode;            // TRAFFIC_*
    double probability;      // TRAFFIC_RANDOM: chance of idling (source) or stalling (sink)
    uint64_t seed;
    const uint8_t* pattern;  // TRAFFIC_PATTERN: 1 = may offer (source) / ready (sink); cyclic
    int64_t pattern_length;
    int64_t done;            // transfers made, written
    int32_t stop;            // sink: reaching count ends the run; not needed to complete it
    const int64_t* schedule; // TRAFFIC_SCHEDULE (source): the run's cycle each item may show from
};

struct Handle {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Vtop> top;
#if FS_TRACE
    std::unique_ptr<Trace> trace;
#endif
    int64_t cycle = 0;
};

// xorshift64*, seeded per stream: the same seed gives the same traffic on every machine.
static inline double next_uniform(uint64_t& state) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (double)((state * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static inline bool allowed(const fs_stream& s, uint64_t& state, int64_t local_cycle) {
    switch (s.mode) {
    case TRAFFIC_RANDOM: return next_uniform(state) >= s.probability;
    case TRAFFIC_PATTERN: return s.pattern[local_cycle % s.pattern_length] != 0;
    case TRAFFIC_SCHEDULE: return local_cycle >= s.schedule[s.done];
    default: return true;
    }
}

static inline void half_cycle(Handle* h) {
    h->top->eval();
#if FS_TRACE
    if (h->trace) h->trace->dump(h->context->time());
#endif
    h->context->timeInc(1);
}
"""

_RUN = r"""
// The rising edge ends a cycle. The falling edge changes nothing in a design clocked on the
// rising edge, so it is evaluated together with the next cycle's inputs: two evaluations a
// cycle, the fewest a Verilator model needs.
static inline void rise(Handle* h) {
    h->top->clk = 1;
    half_cycle(h);
    h->top->clk = 0;
    h->cycle++;
}

FS_EXPORT void* fs_open(const char* wave_path) {
    Handle* h = new Handle;
    h->context.reset(new VerilatedContext);
    h->top.reset(new Vtop{h->context.get()});
#if FS_TRACE
    if (wave_path) {
        h->context->traceEverOn(true);
        h->trace.reset(new Trace);
        h->top->trace(h->trace.get(), 99);
        h->trace->open(wave_path);
    }
#endif
    // Two cycles in reset, then one idle cycle (valid and ready low), as the cocotb benches. The
    // design's reset is `rst` a cycle late, from a register that starts set (see wrapper.py).
    h->top->clk = 0;
    for (int n = 0; n < 3; n++) {
        h->top->rst = n < 1;
        half_cycle(h);
        rise(h);
    }
    h->cycle = 0;
    return h;
}

FS_EXPORT void fs_close(void* handle) {
    Handle* h = (Handle*)handle;
    h->top->final();
#if FS_TRACE
    if (h->trace) h->trace->close();
#endif
    delete h;
}

FS_EXPORT int64_t fs_cycle(void* handle) { return ((Handle*)handle)->cycle; }

// The ceiling: every source valid with a fixed payload, every sink ready, no bookkeeping.
FS_EXPORT void fs_spin(void* handle, const uint32_t* payloads, int64_t cycles) {
    Handle* h = (Handle*)handle;
    for (int i = 0; i < N_IN; i++) {
        set_payload(h->top.get(), i, payloads);
        set_valid(h->top.get(), i, true);
        payloads += IN_WORDS[i];
    }
    for (int i = 0; i < N_OUT; i++) set_ready(h->top.get(), i, true);
    for (int64_t n = 0; n < cycles; n++) {
        half_cycle(h);
        rise(h);
    }
}

FS_EXPORT int32_t fs_run(void* handle, fs_stream* ins, fs_stream* outs, const uint32_t* statics,
                         int64_t budget, int64_t settle) {
    Handle* h = (Handle*)handle;
    Vtop* top = h->top.get();
    uint64_t in_state[N_IN + 1], out_state[N_OUT + 1];
    bool showing[N_IN + 1];
    for (int i = 0; i < N_IN; i++) {
        in_state[i] = ins[i].seed * 2 + 1; showing[i] = false; ins[i].done = 0;
    }
    for (int i = 0; i < N_OUT; i++) { out_state[i] = outs[i].seed * 2 + 1; outs[i].done = 0; }
    set_statics(top, statics);
    const int64_t start = h->cycle;
    int64_t finished_at = -1;
    for (;;) {
        const int64_t local = h->cycle - start;
        bool complete = true;
        for (int i = 0; i < N_IN; i++) complete &= ins[i].done == ins[i].count;
        for (int i = 0; i < N_OUT; i++) {
            if (!outs[i].stop) complete &= outs[i].done >= outs[i].count;
            else if (outs[i].count > 0 && outs[i].done >= outs[i].count) return RUN_STOPPED;
        }
        if (complete && finished_at < 0) finished_at = local;
        if (complete && local - finished_at >= settle) return RUN_DONE;
        if (local >= budget) return RUN_DEADLINE;
        // Drive, with the clock low.
        for (int i = 0; i < N_IN; i++) {
            fs_stream& s = ins[i];
            if (!showing[i] && s.done < s.count && allowed(s, in_state[i], local)) {
                set_payload(top, i, s.data + s.done * IN_WORDS[i]);
                showing[i] = true;
            }
            set_valid(top, i, showing[i]);
        }
        bool ready[N_OUT + 1];
        for (int i = 0; i < N_OUT; i++) {
            ready[i] = allowed(outs[i], out_state[i], local);
            set_ready(top, i, ready[i]);
        }
        half_cycle(h);
        // Sample the handshakes before the rising edge.
        for (int i = 0; i < N_IN; i++) {
            if (showing[i] && get_ready(top, i)) {
                ins[i].stamps[ins[i].done++] = h->cycle;
                showing[i] = false;
            }
        }
        for (int i = 0; i < N_OUT; i++) {
            if (ready[i] && get_valid(top, i)) {
                fs_stream& s = outs[i];
                if (s.done >= s.count) { s.done++; return RUN_EXTRA; }
                get_payload(top, i, s.data + s.done * OUT_WORDS[i]);
                s.stamps[s.done++] = h->cycle;
            }
        }
        rise(h);
    }
}
"""


def _member(verilog_name: str) -> str:
    """The model member Verilator makes of a port: an underscore that follows another is
    escaped as ``__05F`` (``i__payload`` becomes ``i___05Fpayload``)."""
    out, previous = [], ""
    for char in verilog_name:
        out.append("__05F" if char == "_" and previous == "_" else char)
        previous = char
    return "".join(out)


def _store(target: str, width: int, source: str) -> str:
    """C++ statements copying words at ``source`` into the model port ``target``."""
    if width > 64:
        return " ".join(f"{target}[{k}] = {source}[{k}];" for k in range(-(-width // 32)))
    if width > 32:
        return f"{target} = (QData){source}[0] | ((QData){source}[1] << 32);"
    return f"{target} = {source}[0];"


def _load(target: str, width: int, source: str) -> str:
    """C++ statements copying the model port ``source`` into words at ``target``."""
    if width > 64:
        return " ".join(f"{target}[{k}] = {source}[{k}];" for k in range(-(-width // 32)))
    if width > 32:
        return f"{target}[0] = (uint32_t){source}; {target}[1] = (uint32_t)({source} >> 32);"
    return f"{target}[0] = {source};"


def _switch(signature: str, cases: list[str]) -> str:
    """A function dispatching on stream index ``i``; a ``bool`` one returns false by default."""
    body = "\n".join(f"    case {n}: {{ {case} }} break;" for n, case in enumerate(cases))
    fallback = "return false;" if signature.startswith("bool") else "break;"
    return (
        f"static inline {signature} {{\n  switch (i) {{\n{body}\n  default: {fallback}\n  }}\n"
        + ("  return false;\n" if signature.startswith("bool") else "")
        + "}\n"
    )


def driver_source(streams: list[StreamPort], statics: list[Port]) -> str:
    """The whole C++ source of the driver for these ports."""
    ins = [s for s in streams if s.inbound]
    outs = [s for s in streams if not s.inbound]
    words_in = ", ".join(str(s.words) for s in ins) or "0"
    words_out = ", ".join(str(s.words) for s in outs) or "0"
    parts = [
        _PRELUDE,
        f"#define N_IN {len(ins)}\n#define N_OUT {len(outs)}\n",
        f"static const int64_t IN_WORDS[] = {{{words_in}}};\n",
        f"static const int64_t OUT_WORDS[] = {{{words_out}}};\n",
        _switch(
            "void set_payload(Vtop* top, int i, const uint32_t* w)",
            [_store(f"top->{_member(s.name + '__payload')}", s.width, "w") for s in ins],
        ),
        _switch(
            "void set_valid(Vtop* top, int i, bool v)",
            [f"top->{_member(s.name + '__valid')} = v;" for s in ins],
        ),
        _switch(
            "bool get_ready(Vtop* top, int i)",
            [f"return top->{_member(s.name + '__ready')};" for s in ins],
        ),
        _switch(
            "void set_ready(Vtop* top, int i, bool r)",
            [f"top->{_member(s.name + '__ready')} = r;" for s in outs],
        ),
        _switch(
            "bool get_valid(Vtop* top, int i)",
            [f"return top->{_member(s.name + '__valid')};" for s in outs],
        ),
        _switch(
            "void get_payload(Vtop* top, int i, uint32_t* w)",
            [_load("w", s.width, f"top->{_member(s.name + '__payload')}") for s in outs],
        ),
        "static inline void set_statics(Vtop* top, const uint32_t* w) {\n"
        + "".join(
            f"  {_store(f'top->{_member(p.name)}', p.width, f'(w + {offset})')}\n"
            for p, offset in zip(statics, _offsets(statics), strict=True)
        )
        + "  (void)top; (void)w;\n}\n",
        _RUN,
    ]
    return "".join(parts)


def _offsets(statics: list[Port]) -> list[int]:
    offsets, at = [], 0
    for port in statics:
        offsets.append(at)
        at += port.words
    return offsets
