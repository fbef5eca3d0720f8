"""Memory contents as ``$readmemh`` files (``generate --memfiles``).

Amaranth writes every memory's initial contents element by element in an ``initial``
block. :func:`split_memories` takes that Verilog apart: every memory's contents become a
hex file (one word per line, ``$readmemh`` format, as many hex digits as the width needs)
and a second Verilog text loads them with ``$readmemh`` instead. The words are exactly
the ones of the ``initial`` blocks, so the two Verilog texts describe the same hardware;
the hex files are what ``icebram`` (iCE40), ``ecpbram`` (ECP5) and Vivado's
``updatemem`` take to put other weights into a built bitstream without synthesizing
again. The default Verilog of ``generate`` is not changed by any of this.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MemoryFile", "read_hex", "split_memories"]

_MODULE = re.compile(r"^module\s+(\\?\S+)\s*\(", re.MULTILINE)
_MEM = re.compile(
    r"^(?P<indent>[ \t]*)reg\s+\[(?P<msb>\d+):0\]\s+(?P<name>[A-Za-z_][A-Za-z0-9_$]*)\s+"
    r"\[(?P<last>\d+):0\];\n(?P=indent)initial begin\n(?P<body>(?:[ \t]*(?P=name)\[\d+\] = "
    r"\d+'h[0-9a-fA-Fxz]+;\n)+)(?P=indent)end\n", re.MULTILINE)
_ELEM = re.compile(r"\[(\d+)\] = (\d+)'h([0-9a-fA-Fxz]+);")


@dataclass(frozen=True)
class MemoryFile:
    """One memory: the Verilog module path and name, its shape and the hex file."""

    module: str
    name: str
    depth: int
    width: int
    file: str
    text: str

    def as_dict(self) -> dict[str, object]:
        return {"module": self.module, "memory": self.name, "depth": self.depth,
                "width": self.width, "file": self.file}


def _file_name(module: str, name: str) -> str:
    path = module.lstrip("\\").split(".")[1:] or ["top"]
    return "_".join([*path, name]) + ".hex"


def split_memories(verilog: str, *, prefix: str = "") -> tuple[str, list[MemoryFile]]:
    """Return (Verilog loading every memory with ``$readmemh``, the memory files).

    ``prefix`` is put before each file name in the ``$readmemh`` calls (a directory,
    e.g. ``"mem/"``; simulators and synthesis tools resolve it against their working
    directory).
    """
    starts = [(m.start(), m.group(1)) for m in _MODULE.finditer(verilog)]
    files: list[MemoryFile] = []
    out: list[str] = []
    pos = 0
    for m in _MEM.finditer(verilog):
        module = next((name for s, name in reversed(starts) if s < m.start()), "top")
        width, depth = int(m["msb"]) + 1, int(m["last"]) + 1
        words = ["0"] * depth
        digits = (width + 3) // 4
        for i, w, v in _ELEM.findall(m["body"]):
            if int(w) != width:  # pragma: no cover - Yosys writes the memory's width
                raise ValueError(f"{module}.{m['name']}: element width {w} != {width}")
            words[int(i)] = v.lower().replace("x", "0").replace("z", "0").zfill(digits)
        fname = _file_name(module, m["name"])
        text = "\n".join(w.zfill(digits) for w in words) + "\n"
        files.append(MemoryFile(module=module, name=m["name"], depth=depth, width=width,
                                file=fname, text=text))
        ind = m["indent"]
        out.append(verilog[pos:m.start()])
        out.append(f"{ind}reg [{m['msb']}:0] {m['name']} [{m['last']}:0];\n"
                   f"{ind}initial $readmemh(\"{prefix}{fname}\", {m['name']});\n")
        pos = m.end()
    out.append(verilog[pos:])
    names = [f.file for f in files]
    if len(set(names)) != len(names):  # pragma: no cover - module paths are unique
        raise ValueError("two memories map to the same file name")
    return "".join(out), files


def read_hex(text: str) -> list[int]:
    """The words of a ``$readmemh`` file written by :func:`split_memories`."""
    return [int(line, 16) for line in text.split() if line]
