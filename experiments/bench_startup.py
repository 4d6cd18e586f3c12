"""A/B the start-up the TraceWin path pays per run: ``arl-tracewin`` on the benchmark
task and the engine CLI's import, for two source trees alternating run by run (a shared
machine's changing load then hits both alike); prints JSON (medians, after / before).

    git worktree add /tmp/arl-before <commit>       # the source tree to compare with
    python experiments/bench_startup.py --before /tmp/arl-before/src [--repeats 15]

Per tree: ``run_s`` (a whole ``arl-tracewin`` envelope run, process start to exit),
``import_s`` (``import accelerate_rl.engine.cli``, ``-X importtime``'s total) and
``heavy_modules`` (the big libraries a run has imported when it ends). ``import_s`` is
also the import part of ``bench_rl.py --slow``'s ``tracewin_overhead`` (one function).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from accelerate_rl.rl.task import TaskConfig, adige_task

HERE = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("pandas", "numba", "llvmlite", "scipy.fft", "scipy.special", "matplotlib")
ARL = shutil.which("arl-tracewin") or str(Path(sys.executable).parent / "arl-tracewin")


def _env(src: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(src)}


def _run_s(src: Path, argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([ARL, *argv], check=True, capture_output=True, env=_env(src))
    return time.perf_counter() - t0


def import_s(src: Path = HERE) -> float:
    """Seconds a fresh interpreter with ``src`` on its path takes to import the engine
    CLI (``-X importtime``'s total): what ``arl-tracewin`` pays before tracking."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import accelerate_rl.engine.cli"],
        check=True,
        capture_output=True,
        text=True,
        env=_env(src),
    ).stderr
    return int(err.strip().splitlines()[-1].split("|")[1]) / 1e6


def _heavy_modules(src: Path, argv: list[str]) -> list[str]:
    code = (
        "import json, sys\nfrom accelerate_rl.engine.cli import main\n"
        f"main({argv!r})\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=_env(src)
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--before", type=Path, required=True, help="the other tree's src/")
    ap.add_argument("--after", type=Path, default=HERE, help="default: this checkout's src/")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    task = TaskConfig(**adige_task())
    params = [f"{k.key}={(k.low + k.high) / 4}" for k in task.knobs]
    scratch = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    argv = [str(task.project), "hide", f"path_cal={scratch}", *params]
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    runs: dict[str, list[float]] = {k: [] for k in trees}
    imports: dict[str, list[float]] = {k: [] for k in trees}
    try:
        for src in trees.values():  # warm-up: compiled bytecode, disk caches
            _run_s(src, argv)
        for _ in range(args.repeats):
            for side, src in trees.items():
                runs[side].append(_run_s(src, argv))
                imports[side].append(import_s(src))
        result = {
            side: {
                "src": str(src),
                "run_s": round(statistics.median(runs[side]), 4),
                "import_s": round(statistics.median(imports[side]), 4),
                "heavy_modules": _heavy_modules(src, argv),
            }
            for side, src in trees.items()
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for key in ("run_s", "import_s"):
        result[f"{key.removesuffix('_s')}_after_over_before"] = round(
            result["after"][key] / result["before"][key], 3
        )
    result.update(
        repeats=args.repeats,
        machine=f"{os.cpu_count()} cores (shared)",
        load_average=os.getloadavg()[0],
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
