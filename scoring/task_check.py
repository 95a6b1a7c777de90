"""`evolve task check DIR`: what the harness understood of a task folder, and what is wrong or missing.

Each step is a Finding in plain words; a problem carries a hint. The steps: the manifest; each editable
file parses; the frozen markers and the lines between them; each frozen and private name the block must
define, and where; the batch, evaluation and entry functions; the seed against its own guard; the
dataset and whether it is prepared; then the frozen block is run alone (scoring/frozen_run.py) for the
budget, the shapes, the device, one batch and a uniform model's loss; last, the seed is scored once with
the smoke budget (fitness, test loss, the causality probe).
"""

from __future__ import annotations

import ast
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from scoring import data, guard, logits, syntax
from scoring.errors import InputError
from scoring.jobs import FrozenRunJob
from scoring.result import ScoreResult
from scoring.task import Task, load_task

EXAMPLE = "seeds/tasks/conv_words/task.toml"
FROZEN_RUN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Finding:
    topic: str
    text: str
    problem: bool = False
    hint: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Report:
    task_dir: str
    findings: list[Finding]
    task: Task | None = None
    result: ScoreResult | None = None

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.problem]

    def add(self, topic: str, text: str, problem: bool = False, hint: str = "") -> None:
        self.findings.append(Finding(topic, text, problem, hint))

    def to_dict(self) -> dict:
        return {"task_dir": self.task_dir, "task": self.task.name if self.task else None,
                "problems": len(self.problems), "findings": [f.to_dict() for f in self.findings],
                "seed_score": self.result.to_dict() if self.result else None}


def _defined(statements: list[ast.stmt]) -> dict[str, int]:
    """Module-level names the statements bind (descending into if / try / with / for, not into functions),
    with the line of the first binding."""
    found: dict[str, int] = {}

    def visit(stmts: list[ast.stmt]) -> None:
        for s in stmts:
            for name in _binds(s):
                found.setdefault(name, s.lineno)
            for block in _blocks(s):
                visit(block)

    visit(statements)
    return found


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _binds(s: ast.stmt) -> list[str]:
    """The names one statement binds itself (not in the blocks it holds)."""
    if isinstance(s, _SCOPES):
        return [s.name]
    if isinstance(s, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in s.names]
    return [n.id for t in _targets(s) for n in ast.walk(t) if isinstance(n, ast.Name)]


def _targets(s: ast.stmt) -> list[ast.AST]:
    """What an assignment, a for loop or a with statement stores into."""
    if isinstance(s, ast.Assign):
        return s.targets
    if isinstance(s, (ast.AnnAssign, ast.AugAssign, ast.For)):
        return [s.target]
    if isinstance(s, ast.With):
        return [i.optional_vars for i in s.items if i.optional_vars]
    return []


def _blocks(s: ast.stmt) -> list[list[ast.stmt]]:
    """The statement blocks inside one statement that run at module level: none inside a def or a class."""
    if isinstance(s, _SCOPES):
        return []
    return [getattr(s, f, []) for f in ("body", "orelse", "finalbody")] + [h.body for h in getattr(s, "handlers", [])]


def _required_args(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    return len(a.posonlyargs) + len(a.args) - len(a.defaults)


def _functions(statements: list[ast.stmt]) -> dict[str, ast.FunctionDef]:
    return {s.name: s for s in statements if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _check_files(rep: Report, task: Task) -> dict[str, ast.Module]:
    trees = {}
    for name, text in task.seed_files.items():
        try:
            trees[name] = syntax.parse(text, filename=name)
        except SyntaxError as e:
            rep.add("syntax", f"{name} line {e.lineno}: syntax error ({e.msg})", True,
                    "the seed must run as it is: fix it, then check again")
    if trees:
        rep.add("syntax", f"{', '.join(sorted(trees))} parse")
    return trees


def _check_block(rep: Report, task: Task, tree: ast.Module) -> tuple[list[ast.stmt], str] | None:
    """The frozen block's statements and source, or None (with the problem recorded)."""
    fz, text = task.frozen, task.seed_files[task.frozen.file]
    region = guard.frozen_region(text, fz)
    if isinstance(region, str):
        rep.add("markers", region, True,
                f"put a comment line containing '# {fz.begin_marker}' above the code in {fz.file} that fixes the "
                f"data, budget and evaluation, and one containing '# {fz.end_marker}' below it (only a "
                "docstring and comments may come before it)")
        return None
    inside = [s for s in tree.body if s.lineno >= region[0] and s.end_lineno <= region[1]]
    straddle = [s for s in tree.body if s.lineno <= region[1] and s.end_lineno >= region[0] and s not in inside]
    if straddle:
        rep.add("markers", f"{fz.file} line {straddle[0].lineno}: a statement straddles a frozen block marker", True,
                "move the marker so that each statement is wholly inside or outside the block")
        return None
    rep.add("markers", f"frozen block: {fz.file} lines {region[0]}-{region[1]} ({len(inside)} statements), "
                       f"between '{fz.begin_marker}' and '{fz.end_marker}'")
    lines = text.splitlines()[region[0] - 1 : region[1]]
    return inside, "\n".join(lines)


def _check_names(rep: Report, task: Task, inside: list[ast.stmt]) -> None:
    fz, defined = task.frozen, _defined(inside)
    where = [f"{n} (line {defined[n]})" for n in fz.names if n in defined]
    if where:
        rep.add("names", f"{len(where)} of {len(fz.names)} frozen names defined in the block: {', '.join(where)}")
    for kind, names in (("frozen", fz.names), ("private", fz.private)):
        for n in names:
            if n not in defined:
                rep.add("names", f"{kind} name {n!r} is listed in task.toml but the frozen block never defines it",
                        True, f"define {n} between the markers, or take it out of [frozen] "
                              f"{'names' if kind == 'frozen' else 'private'}")
    if fz.private:
        rep.add("names", f"private data (mutable code may not name it): {', '.join(fz.private)}")
    funcs = _functions(inside)
    for role, name, want in (("batch function", fz.batch_function, 0), ("evaluation function", fz.eval_function, 1)):
        _check_function(rep, role, name, want, funcs.get(name), defined.get(name))


def _check_function(rep: Report, role: str, name: str, want: int, fn: ast.FunctionDef | None,
                    line: int | None) -> None:
    """The batch function (no arguments) or the evaluation function (the model): a def, with that many."""
    args = "model" if want else ""
    if fn is None and line is not None:
        rep.add("functions", f"{role} {name}: defined at line {line} (not a def: its arguments are not checked here)")
    elif fn is None:
        rep.add("functions", f"{role} {name!r} is not defined in the frozen block", True,
                f"define `def {name}({args})` between the markers")
    elif _required_args(fn) != want:
        rep.add("functions", f"{role} {name} takes {_required_args(fn)} required arguments, the harness calls it "
                             f"with {want} ({'the model' if want else 'none'})", True, f"make it `def {name}({args})`")
    else:
        rep.add("functions", f"{role}: {name}({args}) at line {fn.lineno}")


def _check_entry(rep: Report, task: Task, trees: dict[str, ast.Module]) -> None:
    tree = trees.get(task.entry_file)
    if tree is None:
        return
    fn = _functions(tree.body).get(task.entry_function)
    if fn is None:
        rep.add("entry", f"{task.entry_file} defines no top-level function {task.entry_function!r}", True,
                f"define `def {task.entry_function}():` returning (best_vloss, elapsed_min), or fix 'entry'")
    elif _required_args(fn) > 0:
        rep.add("entry", f"{task.entry_file}:{task.entry_function} takes {_required_args(fn)} required arguments; "
                         "the harness calls it with none", True, "give every argument a default")
    else:
        rep.add("entry", f"entry: {task.entry_file}:{task.entry_function}() at line {fn.lineno}, "
                         "returns (best_vloss, elapsed_min)")


def _check_dataset(rep: Report, task: Task) -> data.Dataset | None:
    try:
        ds = data.dataset(task.dataset)
    except InputError:
        rep.add("dataset", f"dataset {task.dataset!r} is not prepared in {data.cache_dir() / 'data'}", True,
                f"`evolve data import {task.dataset} --train train.bin --val val.bin [--meta meta.pkl]` for token "
                f"files, `evolve data prepare --text FILE --name {task.dataset}` for a text")
        return None
    m = ds.meta
    s = m["sizes"]
    rep.add("dataset", f"dataset {ds.name}: prepared ({m.get('tokenizer', 'char')}, {m['vocab_size']:,} tokens in the "
                       f"vocabulary, {m.get('dtype', 'uint16')}), {s['train']:,} train / {s['val']:,} val / "
                       f"{s['test']:,} test tokens")
    return ds


def run_frozen_block(task: Task, source: str, ds: data.Dataset) -> dict:
    fz = task.frozen
    settings = [fz.budget_name, fz.max_evals_name, *fz.shape_names]
    job = FrozenRunJob(frozen_source=source, settings=tuple(settings), batch_function=fz.batch_function,
                       eval_function=fz.eval_function, vocab_name=fz.vocab_name)
    env = {**os.environ, "EVOLVE_DATA_DIR": str(ds.public_dir), "EVOLVE_SEED": "1337"}
    try:
        proc = subprocess.run([sys.executable, "-I", "-m", "scoring.frozen_run"], input=json.dumps(job.to_wire()),
                              capture_output=True, text=True, env=env, timeout=FROZEN_RUN_TIMEOUT_S,
                              cwd=task.root, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"the frozen block ran for over {FROZEN_RUN_TIMEOUT_S:g} s"}
    try:
        return json.loads(proc.stdout)
    except ValueError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"the frozen block could not be run (exit {proc.returncode}): {last[:300]}"}


def _check_run(rep: Report, task: Task, ran: dict, ds: data.Dataset) -> None:
    full, smoke = ran.get("full", ran), ran.get("smoke", {})
    if "error" in full:
        rep.add("frozen run", full["error"], True, "run the frozen block by hand to see the whole traceback")
        return
    v = full["values"]
    if not _check_ints(rep, task, v):
        return
    _report_settings(rep, task, v, smoke.get("values", {}))
    _check_size(rep, task, v)
    _check_vocab(rep, task, v[task.frozen.vocab_name], ds)
    _check_batch(rep, task, full.get("batch_function", {}), v, ds)
    _check_eval(rep, task, full.get("eval_function", {}), v[task.frozen.vocab_name])


def _check_ints(rep: Report, task: Task, v: dict) -> bool:
    """Whether every number the harness reads from the block is a positive integer (each one that is not is
    recorded)."""
    fz = task.frozen
    bad = [n for n in (fz.budget_name, fz.max_evals_name, fz.context_name, fz.batch_size_name, fz.vocab_name,
                       fz.eval_iters_name) if not _positive_int(v.get(n))]
    for n in bad:
        rep.add("frozen run", f"{n} is {v.get(n)!r} after the frozen block runs; the harness needs a positive "
                              "integer", True, f"set {n} to an int in the frozen block")
    return not bad


def _positive_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x > 0


def _report_settings(rep: Report, task: Task, v: dict, vs: dict) -> None:
    """The budget, the shapes and the device, as the block sets them (and with the smoke budget)."""
    fz = task.frozen

    def both(n: str) -> str:
        return f"{n} = {v[n]}" + (f" (smoke {vs[n]})" if vs.get(n) not in (None, v[n]) else "")

    rep.add("budget", f"budget: {both(fz.budget_name)} training batches; at most {both(fz.max_evals_name)} "
                      f"evaluations of {both(fz.eval_iters_name)} validation batches each")
    rep.add("shapes", f"shapes: {fz.batch_size_name} = {v[fz.batch_size_name]} windows of {fz.context_name} = "
                      f"{v[fz.context_name]} tokens; {fz.vocab_name} = {v[fz.vocab_name]} logits per position")
    rep.add("device", f"device: {fz.device_name} = {v.get(fz.device_name)!r} here (the candidate's process picks "
                      "its own; the referee stays on the CPU)")


def _check_vocab(rep: Report, task: Task, vocab: int, ds: data.Dataset) -> None:
    if vocab < ds.meta["vocab_size"]:
        rep.add("shapes", f"{task.frozen.vocab_name} is {vocab} but dataset {ds.name} has {ds.meta['vocab_size']} "
                          "tokens in its vocabulary: some targets would have no logit", True,
                "read the vocabulary size from the dataset's meta.json in the frozen block")


def _check_batch(rep: Report, task: Task, b: dict, v: dict, ds: data.Dataset) -> None:
    """One batch of the batch function: its shape, its ids, y shifted by one."""
    fz = task.frozen
    want = [v[fz.batch_size_name], v[fz.context_name]]
    if "error" in b:
        rep.add("batch", b["error"], True, f"{fz.batch_function}() must return (x, y), token ids of shape {want}")
        return
    problems = _batch_problems(b, want, v[fz.vocab_name], ds)
    if problems:
        rep.add("batch", f"{fz.batch_function}() gave " + "; ".join(problems), True,
                "the referee serves this function's batches: fix it in the frozen block")
    else:
        rep.add("batch", f"one batch of {fz.batch_function}(): x and y {b['x_dtype']} {want}, ids "
                         f"{b['min_id']}..{b['max_id']}, y is x shifted by one")


def _batch_problems(b: dict, want: list[int], vocab: int, ds: data.Dataset) -> list[str]:
    problems = []
    if b["x_shape"] != want or b["y_shape"] != want:
        problems.append(f"shapes {b['x_shape']} and {b['y_shape']}, expected {want} (batch size, context)")
    if "max_id" not in b:
        problems.append(f"{b['x_dtype']} values, expected integer token ids")
    elif b["max_id"] >= vocab or b["min_id"] < 0:
        problems.append(f"token ids from {b['min_id']} to {b['max_id']}, outside 0..{vocab - 1}: does the block "
                        f"read the files as {ds.meta.get('dtype', 'uint16')}, the dataset's dtype?")
    elif not b["shifted"]:
        problems.append("y is not x shifted by one token")
    return problems


def _check_eval(rep: Report, task: Task, e: dict, vocab: int) -> None:
    """The evaluation function on uniform logits: it must call the model and give ln(vocabulary)."""
    fz = task.frozen
    if "error" in e:
        rep.add("evaluation", e["error"], True, f"{fz.eval_function}(model) must call model(x) and return a number")
        return
    if not e:
        return
    loss = e["uniform_loss"]
    if loss is None or e["model_calls"] == 0:
        rep.add("evaluation", f"{fz.eval_function}(model) on uniform logits gave {loss} after {e['model_calls']} "
                              "calls of the model", True, "it must call model(x) and return a finite mean loss")
        return
    close = "" if math.isclose(loss, e["expected"], rel_tol=1e-3) else " (not ln of the vocabulary: a " \
                                                                         "loss other than cross-entropy?)"
    rep.add("evaluation", f"{fz.eval_function}(model) on uniform logits: {loss:.4f} in {e['model_calls']} "
                          f"batches, ln({vocab}) = {e['expected']:.4f}{close}")
    if e.get("whole_calls"):
        rep.add("evaluation", f"{fz.eval_function}(model) uses the logits other than through "
                              "F.cross_entropy(logits.reshape(-1, V), y), so the referee fetches whole "
                              "batches of logits rather than two numbers a position (slower at a large "
                              "vocabulary; refused above 1 GiB a batch)")


def _check_size(rep: Report, task: Task, v: dict) -> None:
    """One row of logits must fit one message to the referee (scoring/logits.py)."""
    fz = task.frozen
    try:
        logits.check_shapes(v[fz.context_name], v[fz.vocab_name])
    except logits.TooLarge as e:
        rep.add("shapes", str(e), True, f"{fz.context_name} x {fz.vocab_name} x 4 bytes must stay under "
                                        f"{logits.ROW_LIMIT:,}")


def _check_score(rep: Report, task: Task, result: ScoreResult) -> None:
    rep.result = result
    if result.ok:
        rep.add("seed score", f"the seed with the smoke budget: ok in {result.wall_s:.1f} s, {result.steps} batches; "
                              f"fitness (validation loss) {result.best_vloss:.4f}, test loss {result.test_loss:.4f}; "
                              "the causality probe passed")
    else:
        rep.add("seed score", f"the seed with the smoke budget: {result.status}: {result.reason[:300]}", True,
                f"`evolve score {task.root} --smoke --keep run/` keeps its logs")


def _check_program(rep: Report, task: Task) -> tuple[list[ast.stmt], str] | None:
    """The seed's files: they parse; the frozen block, its names and functions; the entry; the seed against its
    own guard. The frozen block's statements and source, or None where it could not be read."""
    trees = _check_files(rep, task)
    block = _check_block(rep, task, trees[task.frozen.file]) if task.frozen.file in trees else None
    if block:
        _check_names(rep, task, block[0])
    _check_entry(rep, task, trees)
    if len(trees) == len(task.seed_files) and block:
        for problem in guard.check(task, dict(task.seed_files)):
            rep.add("guard", f"the seed breaks its own frozen protocol: {problem}", True,
                    "the seed must pass the checks every candidate gets: move the code, or fix the names")
    return block


def check_task(path: str | Path, *, score_seed: bool = True,
               progress: Callable[[str], None] = lambda _: None) -> Report:
    rep = Report(str(path), [])
    try:
        task = load_task(path, check_seed=False)
    except InputError as e:
        rep.add("manifest", str(e), True, f"compare with {EXAMPLE}, whose every key is commented")
        return rep
    rep.task = task
    rep.add("manifest", f"task {task.name}: editable {', '.join(task.editable)}; entry {task.entry_file}:"
                        f"{task.entry_function}; timeouts {task.timeout_s:g} s (smoke {task.smoke_timeout_s:g} s)")
    block = _check_program(rep, task)
    ds = _check_dataset(rep, task)
    if block and ds is not None:
        progress("running the frozen block...")
        _check_run(rep, task, run_frozen_block(task, block[1], ds), ds)
    if score_seed and not rep.problems:
        progress(f"scoring the seed of {task.name} with the smoke budget...")
        from scoring.api import score

        _check_score(rep, task, score({}, task, smoke=True))
    return rep
