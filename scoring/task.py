"""A task: the seed program (`model.py`, `train_mps.py`) and its manifest `task.toml`, strictly read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from scoring import strict
from scoring.errors import InputError


@dataclass(frozen=True)
class Frozen:
    file: str
    begin_marker: str
    end_marker: str
    eval_function: str
    batch_function: str
    budget_name: str
    max_evals_name: str
    names: tuple[str, ...]
    private: tuple[str, ...]
    # The trusted referee's view of the protocol: which frozen names hold the context length, the batch size,
    # the vocabulary size, the device and the number of validation batches one evaluation averages.
    context_name: str
    batch_size_name: str
    vocab_name: str
    device_name: str
    eval_iters_name: str

    @property
    def shape_names(self) -> tuple[str, ...]:
        return (self.context_name, self.batch_size_name, self.vocab_name, self.device_name, self.eval_iters_name)


OBJECTIVES = {"minimize best_vloss": False, "pareto best_vloss train_flops": True}


@dataclass(frozen=True)
class Objective:
    """What a campaign on the task optimizes: the validation loss alone, or the loss and the training
    FLOPs together (a Pareto front); either under optional compute caps, past which an evaluation ends
    `over_budget`."""

    pareto: bool = False
    max_train_flops: float | None = None
    max_train_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"pareto": self.pareto, "max_train_flops": self.max_train_flops,
                "max_train_seconds": self.max_train_seconds}


@dataclass(frozen=True)
class Task:
    name: str
    root: Path
    description: str
    dataset: str
    editable: tuple[str, ...]
    entry_file: str
    entry_function: str
    frozen: Frozen
    timeout_s: float
    smoke_timeout_s: float
    seed_files: MappingProxyType  # file name -> text of the seed program
    objective: Objective = Objective()

    @property
    def entry_module(self) -> str:
        return self.entry_file.removesuffix(".py")

    def timeout(self, smoke: bool) -> float:
        return self.smoke_timeout_s if smoke else self.timeout_s

    def constraints(self) -> dict[str, Any]:
        """What an operator must tell the LLM: the frozen names and the evaluation function to use."""
        return {
            "frozen_file": self.frozen.file,
            "frozen_region": f"between the '{self.frozen.begin_marker}' and '{self.frozen.end_marker}' markers",
            "frozen_names": list(self.frozen.names),
            "private_names": list(self.frozen.private),
            "eval_function": self.frozen.eval_function,
            "batch_function": self.frozen.batch_function,
            "entry": f"{self.entry_file}:{self.entry_function}",
        }


@dataclass(frozen=True)
class _Evaluation:
    """task.toml's [evaluation] table."""

    timeout_s: float
    smoke_timeout_s: float
    max_train_flops: float | None = None
    max_train_seconds: float | None = None


@dataclass(frozen=True)
class _Manifest:
    """task.toml as written (scoring/strict.py reads it: unknown keys and wrong types are refused)."""

    name: str
    dataset: str
    editable: tuple[str, ...]
    entry: str
    frozen: Frozen
    evaluation: _Evaluation
    description: str = ""
    objective: str = "minimize best_vloss"


def load_task(path: str | Path, check_seed: bool = True) -> Task:
    """Read a task folder; every problem is an InputError naming the folder and the key. `check_seed=False`
    leaves out the seed's syntax and guard check (`evolve task check` reports those one by one)."""
    root = Path(path).expanduser().resolve()
    manifest = root / "task.toml"
    if not root.is_dir():
        raise InputError(f"task folder not found: {path}")
    if not manifest.is_file():
        raise InputError(f"{path} is not a task folder: it has no task.toml")
    where = str(manifest)
    m = strict.load_toml(manifest, _Manifest)
    entry_file, entry_function = _entry(m, where)
    _check_names(m.frozen, f"{where} [frozen]")
    _check_evaluation(m.evaluation, f"{where} [evaluation]")
    if m.objective not in OBJECTIVES:
        raise InputError(f"{where}: 'objective' must be one of {', '.join(repr(o) for o in OBJECTIVES)}, "
                         f"got {m.objective!r}")
    ev = m.evaluation
    task = Task(name=m.name, root=root, description=m.description, dataset=m.dataset, editable=m.editable,
                entry_file=entry_file, entry_function=entry_function, frozen=m.frozen, timeout_s=ev.timeout_s,
                smoke_timeout_s=ev.smoke_timeout_s, seed_files=_seed_files(root, m.editable, where),
                objective=Objective(OBJECTIVES[m.objective], ev.max_train_flops, ev.max_train_seconds))
    if check_seed:
        _check_seed(task, where)
    return task


def _entry(m: _Manifest, where: str) -> tuple[str, str]:
    """'file.py:function', split; the file and the frozen file must be editable."""
    if m.entry.count(":") != 1 or not m.entry.split(":")[0].endswith(".py"):
        raise InputError(f"{where}: 'entry' must look like 'train_mps.py:train', got {m.entry!r}")
    entry_file, entry_function = m.entry.split(":")
    for required in (entry_file, m.frozen.file):
        if required not in m.editable:
            raise InputError(f"{where}: {required!r} must be listed in 'editable'")
    return entry_file, entry_function


def _seed_files(root: Path, editable: tuple[str, ...], where: str) -> MappingProxyType:
    """File name -> text of each editable file of the seed."""
    seed_files = {}
    for name in editable:
        if "/" in name or "\\" in name or not name.endswith(".py"):
            raise InputError(f"{where}: editable file {name!r} must be a plain .py file name")
        f = root / name
        if not f.is_file():
            raise InputError(f"{where}: editable file {name!r} is missing from the task folder")
        try:
            seed_files[name] = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{where}: editable file {name!r} is not UTF-8 text ({e.reason})") from None
    return MappingProxyType(seed_files)


def _check_names(fz: Frozen, where: str) -> None:
    """Every name the harness reads from the frozen block must be frozen itself."""
    for name in (fz.eval_function, fz.batch_function, fz.budget_name, fz.max_evals_name, *fz.shape_names):
        if name not in fz.names:
            raise InputError(f"{where}: {name!r} must also be listed in 'names'")


def _check_evaluation(ev: _Evaluation, where: str) -> None:
    if not (ev.timeout_s > 0 and ev.smoke_timeout_s > 0):
        raise InputError(f"{where}: timeouts must be positive")
    for key in ("max_train_flops", "max_train_seconds"):
        cap = getattr(ev, key)
        if cap is not None and not cap > 0:
            raise InputError(f"{where}: {key!r} must be positive")


def _check_seed(task: Task, where: str) -> None:
    """The seed must parse and pass its own constraint guard, or no candidate of it ever could."""
    from scoring import guard, syntax  # guard reads Task: imported here, not at the top, to avoid a cycle

    for name, text in task.seed_files.items():
        try:
            syntax.parse(text, filename=name)
        except SyntaxError as e:
            raise InputError(f"{where}: seed {name} line {e.lineno}: syntax error ({e.msg})") from None
    problems = guard.check(task, dict(task.seed_files))
    if problems:
        raise InputError(f"{where}: the seed breaks its own frozen protocol: {problems[0]}")


def builtin_task_dir() -> Path:
    """The built-in task shipped in this repository's `seeds/tasks/`."""
    return Path(__file__).resolve().parent.parent / "seeds" / "tasks" / "nanogpt_shakespeare"
