"""One OpenEvolve run for the side-by-side benchmarks (runs with the peer's venv python, never ours).

    bench/.peer/bin/python bench/peer/run_peer.py --api-base URL --iterations N --out FILE
        [--seed N] [--timeout S] [--prefill N] [--workdir DIR]

Starts from the single-file task's train_mps.py, with bench/peer/config.yaml and bench/peer/evaluator.py
(whose mode, log and budget come from the environment, see that file). `--prefill N` first puts N
distinct programs (the seed with a numbered comment, already scored) into the peer's database, the way
a long run would have filled it, so the controller benchmark measures the peer at that population.
Writes a JSON summary: wall time of the run, number of programs, the best program's metrics.
"""

import argparse
import asyncio
import json
import logging
import time
import uuid
from pathlib import Path

import yaml
from openevolve import OpenEvolve
from openevolve.config import Config
from openevolve.database import Program

HERE = Path(__file__).resolve().parent
SEED_PROGRAM = HERE.parents[1] / "seeds" / "tasks" / "nanogpt_single" / "train_mps.py"


def settings(api_base: str, iterations: int, seed: int, timeout: float, population: int) -> Config:
    data = yaml.safe_load((HERE / "config.yaml").read_text())
    data["llm"]["api_base"] = api_base
    data["max_iterations"] = iterations
    data["random_seed"] = data["database"]["random_seed"] = seed
    data["evaluator"]["timeout"] = int(timeout)
    data["database"]["population_size"] = max(data["database"]["population_size"], population)
    data["database"]["archive_size"] = max(data["database"]["archive_size"], population)
    return Config.from_dict(data)


def prefill(evolve: OpenEvolve, n: int, code: str) -> None:
    for i in range(n):
        v = 3.0 - 1e-5 * i
        evolve.database.add(Program(id=str(uuid.uuid4()), code=f"# prefilled program {i}\n{code}",
                                    metrics={"combined_score": -v, "val_loss": v, "ok": 1.0}, iteration_found=0),
                            iteration=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--api-base", required=True)
    ap.add_argument("--iterations", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--prefill", type=int, default=0)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    workdir = Path(args.workdir or f"bench/out/peer-run-{time.time_ns()}")
    workdir.mkdir(parents=True, exist_ok=True)
    program = workdir / "initial_program.py"
    program.write_text(SEED_PROGRAM.read_text())
    cfg = settings(args.api_base, args.iterations, args.seed, args.timeout, args.prefill + args.iterations + 10)
    evolve = OpenEvolve(str(program), str(HERE / "evaluator.py"), cfg, output_dir=str(workdir / "output"))
    t_prefill = 0.0
    if args.prefill:
        t0 = time.perf_counter()
        prefill(evolve, args.prefill, program.read_text())
        t_prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    best = asyncio.run(evolve.run(iterations=args.iterations))
    wall = time.perf_counter() - t0
    summary = {"wall_s": wall, "prefill_s": t_prefill, "programs": len(evolve.database.programs),
               "best_metrics": best.metrics if best else None}
    Path(args.out).write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
