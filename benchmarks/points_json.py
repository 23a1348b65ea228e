"""Speed of `tbhub.jsonutil.points_json` (the API's big point lists) against plain orjson.

    .venv/bin/python benchmarks/points_json.py [--points 1000000] [--repeat 5]

Prints the median CPU time (this process) and wall time to encode [[step, wall_time, value], ...] for float32 values
(widened exactly) and float64 values, next to the straightforward
`orjson.dumps(list(zip(steps.tolist(), walls.tolist(), values.tolist())))`, and checks that both
produce the same bytes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import orjson

from tbhub import jsonutil


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.points
    rng = np.random.default_rng(0)
    steps = np.arange(n, dtype=np.int64) * 10
    walls = 1_700_000_000.0 + np.cumsum(rng.random(n))
    for dtype in (np.float32, np.float64):
        values = rng.standard_normal(n).astype(dtype)
        for name, fn in (
            ("jsonutil.points_json", lambda v=values: jsonutil.points_json(steps, walls, v)),
            (
                "orjson of Python lists",
                lambda v=values: orjson.dumps(
                    list(
                        zip(
                            steps.tolist(),
                            walls.tolist(),
                            v.astype(np.float64).tolist(),
                            strict=True,
                        )
                    )
                ),
            ),
        ):
            times = []
            cpus = []
            out = b""
            for _ in range(args.repeat):
                start, cpu = time.perf_counter(), time.process_time()
                out = fn()
                times.append(time.perf_counter() - start)
                cpus.append(time.process_time() - cpu)
            print(
                f"{np.dtype(dtype).name:8s} {name:24s} median {statistics.median(cpus) * 1e3:7.1f} ms CPU"
                f"  {statistics.median(times) * 1e3:7.1f} ms wall  ({len(out) / 1e6:.1f} MB, {n} points)"
            )
        plain = orjson.dumps(
            list(
                zip(steps.tolist(), walls.tolist(), values.astype(np.float64).tolist(), strict=True)
            )
        )
        assert jsonutil.points_json(steps, walls, values) == plain
    return 0


if __name__ == "__main__":
    sys.exit(main())
