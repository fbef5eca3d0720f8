"""The SPRAM load image: what the host sends to fill the iCE40 UP5K's weight memories.

A design whose synapse memories live in ``SB_SPRAM256KA`` blocks (``weights_in="spram"``,
:func:`hwplan.plan_network`) has no weights in its bitstream: after every reset the
load port (:class:`hdl.spram.SpramLoader`) takes them as a byte stream, and the core is
held off (``busy``) until the last byte has arrived. The byte stream is:

* the SPRAM memories in layer order (:attr:`hwplan.HardwarePlan.spram_layers`);
* per memory its ``words`` packed synapse words in address order
  (:func:`hwplan.pack_synapse_words`: word ``j * groups + g``);
* per word ``ceil(width / 8)`` bytes, least significant byte first.

Nothing else: no header, no length (both ends know them from the plan). The board's
UART link answers the last byte with the 4-byte acknowledgement :func:`load_ack`
(the 16-bit sum of the image's bytes, then ``b"FS"``), so the host knows the load
arrived complete and intact before it sends samples.
"""
from __future__ import annotations

from typing import Any

from pysim import InputError, IntNetwork
from pysim.util import ceil_div

from .plan import HardwarePlan, MemoryPlan, pack_synapse_words

__all__ = ["LOAD_ACK_TAG", "load_ack", "load_image", "load_image_bytes", "load_layout",
           "load_word_bytes"]

LOAD_ACK_TAG = b"FS"
"""Last two bytes of the board's load acknowledgement (ASCII ``SF`` as a little-endian
16-bit word)."""


def load_word_bytes(memory: MemoryPlan) -> int:
    """Bytes per word of a memory in the load image: ``ceil(width / 8)``."""
    return ceil_div(memory.width, 8)


def load_layout(plan: HardwarePlan) -> list[dict[str, Any]]:
    """One entry per SPRAM memory, in load order: layer, words, width, bytes per word,
    byte offset and length in the image, SPRAM blocks."""
    out, offset = [], 0
    for lp in plan.spram_layers:
        mem = lp.synapse.memory
        nb = load_word_bytes(mem)
        out.append({"layer": lp.name, "words": mem.words, "width": mem.width,
                    "bytes_per_word": nb, "offset": offset, "bytes": mem.words * nb,
                    "spram_blocks": mem.spram_blocks, "banks": list(mem.banks)})
        offset += mem.words * nb
    return out


def load_image_bytes(plan: HardwarePlan) -> int:
    """Length of the load image in bytes (0 when no memory is in SPRAM)."""
    return sum(e["bytes"] for e in load_layout(plan))


def load_image(net: IntNetwork, plan: HardwarePlan) -> bytes:
    """The bytes that fill the SPRAM memories of ``plan`` with the weights of ``net``
    (module docstring). ``net`` may be another network of the same geometry: its
    weights are then what the design computes with."""
    layers = {la.name: la for la in net.neuron_layers}
    parts = []
    for e, lp in zip(load_layout(plan), plan.spram_layers, strict=True):
        la = layers.get(lp.name)
        if la is None or la.weight.shape != (lp.out_features, lp.in_features) \
                or la.weight_bits != lp.weight_bits:
            raise InputError(f"layer {lp.name!r}: the network's weights do not have the "
                             f"design's geometry")
        nb = e["bytes_per_word"]
        parts.append(b"".join(int(w).to_bytes(nb, "little") for w in
                              pack_synapse_words(la.weight, lp.weight_bits, lp.lanes)))
    return b"".join(parts)


def load_ack(image: bytes) -> bytes:
    """The board's acknowledgement of a complete load: the 16-bit sum of ``image``'s
    bytes (little-endian), then :data:`LOAD_ACK_TAG`."""
    return (sum(image) & 0xFFFF).to_bytes(2, "little") + LOAD_ACK_TAG
