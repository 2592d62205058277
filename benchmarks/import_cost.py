"""Import cost of each operator/sensor module on top of ``import airflow.sdk`` + ``BaseOperator``.

A DAG file is parsed over and over (dag-processor, every task start), so what an operator
module drags in at import time is paid again and again. For each module a fresh interpreter
imports the baseline (``import airflow.sdk; from airflow.sdk import BaseOperator``), then the
module, and reports the time of the second step; the median of ``--runs`` interpreters is
shown next to the http provider's ``HttpOperator`` module. A ``-X importtime`` run then names
what dominated each module's added time.

    python benchmarks/import_cost.py             # 7 runs per module
    python benchmarks/import_cost.py --runs 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import airflow_env, machine, median, table, verdict

BASELINE = "import airflow.sdk; from airflow.sdk import BaseOperator"
OURS = [
    "airflow_provider_kling.operators.video_to_audio",
    "airflow_provider_kling.operators.video",
    "airflow_provider_kling.operators.publish",
    "airflow_provider_kling.sensors.kling",
]
ALTERNATIVE = "airflow.providers.http.operators.http"
TARGET_MS = 20.0
MARK = "--kling-bench-mark--"

# The import chain of an operator module, leaves first: timed one step after the other.
CHAIN = [
    "airflow_provider_kling.exceptions",
    "airflow_provider_kling.api.tasks",
    "airflow_provider_kling.api.kinds",
    "airflow_provider_kling.hooks.auth",
    "airflow_provider_kling.execution.polling",
    "airflow_provider_kling.hooks.kling",
    "airflow_provider_kling.operators.base",
    "airflow_provider_kling.operators.video_to_audio",
]
STEPS = """
import importlib, json, time
{baseline}
out = {{}}
for name in {chain!r}:
    t = time.process_time()
    importlib.import_module(name)
    out[name] = (time.process_time() - t) * 1000
print(json.dumps(out))
"""

# Wall and CPU time: on a shared machine the CPU time is the steadier of the two.
TIMER = """
import time
t0 = time.perf_counter()
{baseline}
t1, c1 = time.perf_counter(), time.process_time()
import {module}
t2, c2 = time.perf_counter(), time.process_time()
print((t1 - t0) * 1000, (t2 - t1) * 1000, (c2 - c1) * 1000)
"""


def run_python(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter in the benchmark environment; RuntimeError with its stderr if it fails."""
    out = subprocess.run(
        [sys.executable, *args], env=airflow_env(), capture_output=True, text=True, timeout=120
    )
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{out.stderr[-2000:]}")
    return out


def time_module(module: str, runs: int) -> tuple[float, float, float]:
    """Median (baseline wall ms, added wall ms, added CPU ms) over ``runs`` fresh interpreters."""
    base, added, added_cpu = [], [], []
    code = TIMER.format(baseline=BASELINE, module=module)
    for _ in range(runs):
        out = run_python(["-c", code], f"importing {module}")
        b, a, c = out.stdout.split()[-3:]
        base.append(float(b))
        added.append(float(a))
        added_cpu.append(float(c))
    return median(base), median(added), median(added_cpu)


def offenders(module: str, top: int = 4) -> list[tuple[str, float]]:
    """Top-level packages whose modules took the most self time when ``module`` was imported."""
    code = f"import sys\n{BASELINE}\nprint({MARK!r}, file=sys.stderr, flush=True)\nimport {module}\n"
    out = run_python(["-X", "importtime", "-c", code], f"importing {module} with -X importtime")
    per_package: dict[str, float] = defaultdict(float)
    seen_mark = False
    for line in out.stderr.splitlines():
        if line.strip() == MARK:
            seen_mark = True
            continue
        if not seen_mark or not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        parts = name.split(".")
        # Group our own package by sub-module, everything else by its top-level package.
        key = ".".join(parts[:2]) if parts[0] in ("airflow_provider_kling", "airflow") else parts[0]
        per_package[key] += int(self_us) / 1000
    return sorted(per_package.items(), key=lambda kv: kv[1], reverse=True)[:top]


def chain_breakdown(runs: int) -> list[tuple[str, float]]:
    """Median ms each module of the operator's import chain adds, imported in dependency order."""
    samples: dict[str, list[float]] = defaultdict(list)
    code = STEPS.format(baseline=BASELINE, chain=CHAIN)
    for _ in range(runs):
        out = run_python(["-c", code], "import chain")
        for name, ms in json.loads(out.stdout.splitlines()[-1]).items():
            samples[name].append(ms)
    return [(name, median(samples[name])) for name in CHAIN]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per module (median)")
    parser.add_argument("--modules", default=None, help="comma-separated modules instead of the default set")
    args = parser.parse_args()
    modules = args.modules.split(",") if args.modules else OURS
    modules = [m for m in modules if importlib.util.find_spec(m) is not None]
    print(machine())
    print(f"import cost: median of {args.runs} fresh interpreters, added to `{BASELINE}`")
    print()
    rows = []
    for module in [*modules, ALTERNATIVE]:
        base_ms, added_ms, added_cpu_ms = time_module(module, args.runs)
        ours = module != ALTERNATIVE
        top = ", ".join(f"{name} {ms:.0f}" for name, ms in offenders(module))
        rows.append(
            [
                module,
                "ours" if ours else "http provider",
                base_ms,
                added_ms,
                added_cpu_ms,
                f"<= {TARGET_MS:.0f}" if ours else "-",
                verdict(added_cpu_ms <= TARGET_MS) if ours else "-",
                top,
            ]
        )
        print(f"  timed {module}: +{added_ms:.1f} ms wall, +{added_cpu_ms:.1f} ms CPU", flush=True)
    print()
    print(
        table(
            [
                "module",
                "whose",
                "baseline wall ms",
                "added wall ms",
                "added CPU ms",
                "target (CPU) ms",
                "verdict",
                "top self time under -X importtime (ms)",
            ],
            rows,
        )
    )
    print()
    print(f"where the operator module's time goes (each step's own median, {args.runs} runs):")
    print(table(["module (dependency order)", "CPU ms"], chain_breakdown(args.runs)))


if __name__ == "__main__":
    main()
