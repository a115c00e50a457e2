"""What every benchmark prints about the machine it ran on (imported by the scripts here)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages: near the core count, other work shares them."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min)"
    except OSError:  # not available on this system
        return "unknown"


def numpy_blas() -> str:
    """NumPy's BLAS library, version, kernel and thread count, as threadpoolctl sees them."""
    from threadpoolctl import threadpool_info

    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if not pools:
        return "unknown"
    # NumPy's own (SciPy may load another): it does the products
    p = next((p for p in pools if "numpy" in p.get("filepath", "")), pools[0])
    return (f"{p.get('internal_api')} {p.get('version')} kernel {p.get('architecture', '?')}, "
            f"{p.get('num_threads')} thread(s)")
