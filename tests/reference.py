"""A deliberately plain scalar reference of the integer semantics (Python ints).

Written straight from the documented steps (``docs/semantics.md``), with no NumPy
arithmetic, so that it shares no code and no vectorization trick with ``pysim.golden``:

* dense: ``Σ_j W[i][j] · x[j]``, one neuron at a time;
* conv2d and sum-pool: **event scatter** — for every non-zero input value ``v`` at
  ``(c, y, x)``, add ``v · W[o][c][i][j]`` (or ``v``, for a pool) to every output position
  whose window covers that input (``y = oy·S + i − P``), the opposite direction from the
  golden model's gather (im2col);
* then the five neuron steps (reset, leak, input, clamp, fire) per neuron.

Maps are flattened channel-major: ``i = c·H·W + y·W + x``.
"""
from __future__ import annotations


def _dense_current(layer, x):
    W = [[int(w) for w in row] for row in layer.weight.tolist()]
    out = []
    for i in range(layer.out_features):
        a = 0
        for j in range(layer.in_features):
            a += W[i][j] * x[j]
        out.append(a)
    return out


def _conv_current(layer, x):
    C, H, Wd = layer.in_shape
    O, OH, OW = layer.out_shape
    KH, KW = layer.kernel
    SH, SW = layer.stride
    PH, PW = layer.padding
    W = layer.weight.tolist()
    out = [0] * (O * OH * OW)
    for c in range(C):
        for y in range(H):
            for xx in range(Wd):
                v = x[c * H * Wd + y * Wd + xx]
                if v == 0:
                    continue
                for i in range(KH):
                    ny = y + PH - i  # = oy * SH
                    if ny < 0 or ny % SH or ny // SH >= OH:
                        continue
                    oy = ny // SH
                    for j in range(KW):
                        nx = xx + PW - j
                        if nx < 0 or nx % SW or nx // SW >= OW:
                            continue
                        ox = nx // SW
                        for o in range(O):
                            out[o * OH * OW + oy * OW + ox] += int(W[o][c][i][j]) * v
    return out


def _pool_counts(layer, x):
    C, H, Wd = layer.in_shape
    _, OH, OW = layer.out_shape
    KH, KW = layer.kernel
    SH, SW = layer.stride
    out = [0] * (C * OH * OW)
    for c in range(C):
        for y in range(H):
            for xx in range(Wd):
                v = x[c * H * Wd + y * Wd + xx]
                if v == 0:
                    continue
                for oy in range(OH):
                    for ox in range(OW):
                        if oy * SH <= y < oy * SH + KH and ox * SW <= xx < ox * SW + KW:
                            out[c * OH * OW + oy * OW + ox] += v
    return out


def reference_simulate(net, spikes):
    """Return (predictions, spikes {name: list[n][t][i]}, membranes {name: ...}).

    Only layers with neurons appear in the two dicts.
    """
    L = len(net.layers)
    preds = []
    all_s = {layer.name: [] for layer in net.layers if layer.kind != "sumpool2d"}
    all_u = {layer.name: [] for layer in net.layers if layer.kind != "sumpool2d"}
    for n in range(len(spikes)):
        x_seq = [[int(v) for v in spikes[n][t]] for t in range(net.timesteps)]
        for li, layer in enumerate(net.layers):
            if layer.kind == "sumpool2d":
                x_seq = [_pool_counts(layer, x_seq[t]) for t in range(net.timesteps)]
                continue
            membrane_readout = net.readout.value == "membrane" and li == L - 1
            n_out = 1
            for d in layer.out_shape:
                n_out *= d
            if layer.bias is None:
                b = [0] * n_out
            else:  # one bias per output channel; channel-major flattening
                per = n_out // len(layer.bias)
                b = [int(layer.bias[i // per]) for i in range(n_out)]
            lo = -(2 ** (layer.state_bits - 1))
            hi = 2 ** (layer.state_bits - 1) - 1
            theta = layer.threshold
            k = layer.leak_shift
            u_prev = [0] * n_out
            s_prev = [0] * n_out
            s_seq, u_seq = [], []
            for t in range(net.timesteps):
                syn = _current(layer, x_seq[t])
                u_now, s_now = [], []
                for i in range(n_out):
                    # 1. reset
                    if membrane_readout:
                        r = u_prev[i]
                    elif layer.reset.value == "zero":
                        r = u_prev[i] * (1 - s_prev[i])
                    else:
                        r = u_prev[i] - theta * s_prev[i]
                    # 2. leak: floor division is an arithmetic shift
                    d = r if k is None else r - (r // (2 ** k))
                    # 3. input
                    a = d + b[i] + syn[i]
                    # 4. clamp
                    u = min(max(a, lo), hi)
                    # 5. fire
                    s = 0 if membrane_readout else (1 if u >= theta else 0)
                    u_now.append(u)
                    s_now.append(s)
                u_prev, s_prev = u_now, s_now
                s_seq.append(s_now)
                u_seq.append(u_now)
            all_s[layer.name].append(s_seq)
            all_u[layer.name].append(u_seq)
            x_seq = s_seq
        last = net.layers[-1]
        if net.readout.value == "spike_count":
            score = [sum(all_s[last.name][n][t][i] for t in range(net.timesteps))
                     for i in range(len(all_s[last.name][n][0]))]
        else:
            score = all_u[last.name][n][net.timesteps - 1]
        best = 0
        for i in range(1, len(score)):
            if score[i] > score[best]:
                best = i
        preds.append(best)
    return preds, all_s, all_u


def _current(layer, x):
    if layer.kind == "conv2d":
        return _conv_current(layer, x)
    return _dense_current(layer, x)
