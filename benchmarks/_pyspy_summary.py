"""Summarize a py-spy raw profile (`--py-spy FILE.txt`): samples per thread and per function.

    python benchmarks/_pyspy_summary.py FILE [--per N] [--top K]

Inclusive samples per function (each stack counts a function once), optionally divided by N
(e.g. the number of executes in the profiled runs) and by the sampling rate to give ms per
execute. py-spy samples Python threads only; native threads (gRPC I/O, DuckDB workers) are missing.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_LOCATION = re.compile(r" \((?:[^()]*/site-packages/|[^()]*/lib/python3\.\d+/|[^()]*/work/main/)?([^()]*?)(?::\d+)?\)$")


def summarize(path: Path, per: int, rate: int, top: int) -> str:
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        threads[frames[0]] += samples
        seen: set[str] = set()
        for frame in frames[1:]:
            name = _LOCATION.sub(r" (\1)", frame)
            if name not in seen:
                seen.add(name)
                inclusive[name] += samples
    scale = 1000.0 / rate / per  # samples -> ms per unit
    unit = f"ms per op (÷ {per} ops)" if per > 1 else "ms"
    lines = [f"{total} samples at {rate} Hz", "", "| thread | samples |", "| --- | ---: |"]
    lines += [f"| {name} | {n} |" for name, n in threads.most_common(10)]
    lines += ["", f"| function (inclusive) | samples | {unit} |", "| --- | ---: | ---: |"]
    lines += [f"| `{name}` | {n} | {n * scale:.3f} |" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--per", type=int, default=1, help="divide by this many operations (default 1)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy sampling rate in Hz (default 250)")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    print(summarize(args.profile, args.per, args.rate, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
