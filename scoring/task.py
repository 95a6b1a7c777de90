"""A task: the seed program (`model.py`, `train_mps.py`) and its manifest `task.toml`, strictly read."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

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


_TOP = {"name", "description", "dataset", "editable", "entry", "objective", "frozen", "evaluation"}
_FROZEN = {"file", "begin_marker", "end_marker", "eval_function", "batch_function", "budget_name",
           "max_evals_name", "names", "private", "context_name", "batch_size_name", "vocab_name", "device_name",
           "eval_iters_name"}
_EVAL = {"timeout_s", "smoke_timeout_s", "max_train_flops", "max_train_seconds"}


def _need(table: dict, key: str, kind: type, where: str):
    if key not in table:
        raise InputError(f"{where}: missing key {key!r}")
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        raise InputError(f"{where}: {key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _strings(table: dict, key: str, where: str) -> tuple[str, ...]:
    value = _need(table, key, list, where)
    if not all(isinstance(v, str) for v in value):
        raise InputError(f"{where}: {key!r} must be a list of strings")
    return tuple(value)


def _unknown(table: dict, allowed: set, where: str) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        raise InputError(f"{where}: unknown key {extra[0]!r}")


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
    try:
        doc = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{where}: not valid TOML ({e})") from None
    _unknown(doc, _TOP, where)
    fz = _need(doc, "frozen", dict, where)
    _unknown(fz, _FROZEN, f"{where} [frozen]")
    ev = _need(doc, "evaluation", dict, where)
    _unknown(ev, _EVAL, f"{where} [evaluation]")

    entry = _need(doc, "entry", str, where)
    if entry.count(":") != 1 or not entry.split(":")[0].endswith(".py"):
        raise InputError(f"{where}: 'entry' must look like 'train_mps.py:train', got {entry!r}")
    entry_file, entry_function = entry.split(":")
    editable = _strings(doc, "editable", where)
    fwhere = f"{where} [frozen]"
    frozen = Frozen(
        file=_need(fz, "file", str, fwhere),
        begin_marker=_need(fz, "begin_marker", str, fwhere),
        end_marker=_need(fz, "end_marker", str, fwhere),
        eval_function=_need(fz, "eval_function", str, fwhere),
        batch_function=_need(fz, "batch_function", str, fwhere),
        budget_name=_need(fz, "budget_name", str, fwhere),
        max_evals_name=_need(fz, "max_evals_name", str, fwhere),
        names=_strings(fz, "names", fwhere),
        private=_strings(fz, "private", fwhere),
        context_name=_need(fz, "context_name", str, fwhere),
        batch_size_name=_need(fz, "batch_size_name", str, fwhere),
        vocab_name=_need(fz, "vocab_name", str, fwhere),
        device_name=_need(fz, "device_name", str, fwhere),
        eval_iters_name=_need(fz, "eval_iters_name", str, fwhere),
    )
    for required in (entry_file, frozen.file):
        if required not in editable:
            raise InputError(f"{where}: {required!r} must be listed in 'editable'")
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
    for name in (frozen.eval_function, frozen.batch_function, frozen.budget_name, frozen.max_evals_name,
                 *frozen.shape_names):
        if name not in frozen.names:
            raise InputError(f"{fwhere}: {name!r} must also be listed in 'names'")
    timeout_s = _need(ev, "timeout_s", float, f"{where} [evaluation]")
    smoke_timeout_s = _need(ev, "smoke_timeout_s", float, f"{where} [evaluation]")
    if timeout_s <= 0 or smoke_timeout_s <= 0:
        raise InputError(f"{where} [evaluation]: timeouts must be positive")
    caps = {}
    for key in ("max_train_flops", "max_train_seconds"):
        if key in ev:
            caps[key] = _need(ev, key, float, f"{where} [evaluation]")
            if not caps[key] > 0:
                raise InputError(f"{where} [evaluation]: {key!r} must be positive")
    objective = doc.get("objective", "minimize best_vloss")
    if objective not in OBJECTIVES:
        raise InputError(f"{where}: 'objective' must be one of {', '.join(repr(o) for o in OBJECTIVES)}, "
                         f"got {objective!r}")
    task = Task(
        name=_need(doc, "name", str, where),
        root=root,
        description=str(doc.get("description", "")),
        dataset=_need(doc, "dataset", str, where),
        editable=editable,
        entry_file=entry_file,
        entry_function=entry_function,
        frozen=frozen,
        timeout_s=timeout_s,
        smoke_timeout_s=smoke_timeout_s,
        seed_files=MappingProxyType(seed_files),
        objective=Objective(OBJECTIVES[objective], **caps),
    )
    if check_seed:
        _check_seed(task, where)
    return task


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
