"""Shared reporting for the benchmarks: machine facts, statistics and Markdown tables."""

from __future__ import annotations

import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _total_memory() -> str:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    kib = int(line.split()[1])
                    return f"{kib / (1 << 20):.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


_load_before = "not recorded"


def warn_if_busy(limit: float = 1.0) -> None:
    """Other processes on the machine skew every figure: say so before measuring (and remember the load)."""
    global _load_before
    _load_before = load_average()
    try:
        one = os.getloadavg()[0]
    except OSError:
        return
    if one > limit:
        print(
            f"warning: load average {one:.2f} before starting: other processes are using the CPUs, "
            "figures will be noisy",
            file=sys.stderr,
        )


def machine_facts() -> list[tuple[str, str]]:
    return [
        ("nproc", str(os.cpu_count())),
        ("memory", _total_memory()),
        ("cpu", _cpu_model()),
        ("os", f"{platform.system()} {platform.release()}"),
        ("python", platform.python_version()),
        ("pyarrow", _version("pyarrow")),
        ("duckdb", _version("duckdb")),
        ("adbc_driver_flightsql", _version("adbc-driver-flightsql")),
        ("flight-gateway", _version("flight-gateway")),
        ("load average before the run", _load_before),
        ("load average at the end (includes the benchmark itself)", load_average()),
    ]


def command_line() -> str:
    """The command that produced this output, as it can be pasted into a shell."""
    return shlex.join(["python", *sys.argv])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A GitHub Markdown table; `align` holds one of 'l'/'r' per column (default: first left, rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": "---", "r": "---:"}
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(marks[a] for a in align) + " |",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_table() -> str:
    return markdown_table(["machine", "value"], machine_facts(), align="ll")


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values (p99 of 1000 runs = the 990th value)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def run_in_work_dir(work_dir: Path | None, prefix: str, run: Callable[[Path], str]) -> int:
    """Print `run(dir)` for the given work dir (kept), or for a temporary one (deleted after)."""
    warn_if_busy()
    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        print(run(work_dir.resolve()))
        return 0
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        print(run(Path(tmp)))
    return 0
