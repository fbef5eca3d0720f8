"""A deliberately plain scalar reference of contract §1 (Python ints, one neuron at a time).

Written straight from the contract's five steps, with no NumPy arithmetic, so that it
shares no code and no vectorization trick with ``pysim.golden``.
"""
from __future__ import annotations


def reference_simulate(net, spikes):
    """Return (predictions, spikes {name: list[n][t][i]}, membranes {name: ...})."""
    L = len(net.layers)
    preds = []
    all_s = {layer.name: [] for layer in net.layers}
    all_u = {layer.name: [] for layer in net.layers}
    for n in range(len(spikes)):
        x_seq = [[int(v) for v in spikes[n][t]] for t in range(net.timesteps)]
        for li, layer in enumerate(net.layers):
            membrane_readout = net.readout.value == "membrane" and li == L - 1
            W = [[int(w) for w in row] for row in layer.weight]
            b = [0] * layer.out_features if layer.bias is None else [int(v) for v in layer.bias]
            lo = -(2 ** (layer.state_bits - 1))
            hi = 2 ** (layer.state_bits - 1) - 1
            theta = layer.threshold
            k = layer.leak_shift
            u_prev = [0] * layer.out_features
            s_prev = [0] * layer.out_features
            s_seq, u_seq = [], []
            for t in range(net.timesteps):
                x = x_seq[t]
                u_now, s_now = [], []
                for i in range(layer.out_features):
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
                    a = d + b[i]
                    for j in range(layer.in_features):
                        a += W[i][j] * x[j]
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
                     for i in range(last.out_features)]
        else:
            score = all_u[last.name][n][net.timesteps - 1]
        best = 0
        for i in range(1, len(score)):
            if score[i] > score[best]:
                best = i
        preds.append(best)
    return preds, all_s, all_u
