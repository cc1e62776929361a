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


def cpu_list(text: str) -> set[int]:
    """`0-2,5` -> {0, 1, 2, 5} (the kernel's Cpus_allowed_list form)."""
    out: set[int] = set()
    for part in text.strip().split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            out.update(range(int(a), int(b) + 1))
        elif part:
            out.add(int(part))
    return out


def verify_placement(pid: int, cpus: str, name: str) -> list[str]:
    """Every thread of `pid` (and of its child processes) may run only on `cpus`; raise if one
    may run elsewhere, so that no number is ever taken with two sides sharing a core. Returns
    the threads checked, as `name:cpus`."""
    want = cpu_list(cpus)
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    seen = []
    for p in pids:
        for task in Path(f"/proc/{p}/task").iterdir():
            try:
                status = (task / "status").read_text()
            except OSError:
                continue  # the thread ended meanwhile
            fields = dict(l.split(":", 1) for l in status.splitlines() if ":" in l)
            tname = fields.get("Name", "?").strip()
            allowed = fields.get("Cpus_allowed_list", "").strip()
            if cpu_list(allowed) != want:
                raise RuntimeError(f"placement check failed: {name} thread {tname} ({task.name}) "
                                   f"may run on CPUs {allowed}, expected {cpus}")
            seen.append(f"{tname}:{allowed}")
    return seen

