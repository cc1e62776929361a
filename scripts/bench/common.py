"""Helpers shared by the benchmark drivers (run.py, h2_floors.py): no state, no side effects."""

from __future__ import annotations

import re
import socket
from pathlib import Path


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:port can be bound now (SO_REUSEADDR, as servers bind)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def cpu_ticks(pid: int) -> int:
    """User + system CPU of a process so far, in clock ticks."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def render_template(src: Path, dst: Path, subs: dict[str, str]) -> Path:
    """`src` with every `@@NAME@@` replaced from `subs`, written to `dst`; a placeholder left
    unfilled is an error."""
    text = src.read_text()
    for k, v in subs.items():
        text = text.replace(f"@@{k}@@", v)
    left = re.findall(r"@@[A-Z_]+@@", text)
    if left:
        raise RuntimeError(f"{src}: unfilled placeholders {sorted(set(left))}")
    dst.write_text(text)
    return dst
