"""Campaign settings: one strictly validated value, from a TOML file and/or `evolve launch` flags.

Every key is used by the campaign and tested; an unknown key or a wrong type is an InputError that names
it. The validated settings are stored in the database with the campaign, so `evolve resume` runs with
exactly the settings it was launched with (only the budgets may be raised).
"""

from __future__ import annotations

import tomllib
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from scoring.errors import InputError

LLM_CALLS_PER_EVAL = 4  # the default LLM-call budget per evaluation of the budget


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelChoice(_Strict):
    name: str = "offline"  # a litellm model string, or "offline" (the built-in operator)
    weight: float = Field(1.0, gt=0)
    api_base: str | None = None


class LLM(_Strict):
    """How LLM calls are made (evolve/operators/llm.py reads these, and nothing else defines them)."""

    temperature: float = Field(0.8, ge=0, le=2)
    max_tokens: int = Field(8192, ge=256)
    timeout_s: float = Field(300.0, gt=0)
    retries: int = Field(3, ge=0, le=10)  # extra attempts after the first, on transient errors only
    retry_backoff_s: float = Field(2.0, ge=0)  # first wait before a retry; doubles each retry, capped at 60 s
    concurrency: int = Field(2, ge=1, le=64)  # proposers: LLM calls in flight at once
    max_prompt_chars: int = Field(60_000, ge=2_000)  # longer prompts are cut as prompts.py states, or not sent
    # The progress guard (evolve/progress.py): after a proposal that gave nothing to train (rejected reply,
    # duplicate, constraint violation, prompt too long, failed call) that was not the first in a row, the next
    # one waits, first `fruitless_backoff_s`, doubling up to 10 s; `max_fruitless` in a row stop the proposals.
    max_fruitless: int = Field(40, ge=1)
    fruitless_backoff_s: float = Field(1.0, ge=0)
    # What the prompt asks the reply to be (evolve/operators/prompts.py): "full", every changed file whole (the
    # persona prompts' own request); "edits", SEARCH/REPLACE edits per file (evolve/operators/edits.py: far
    # fewer output tokens); "mixed", edits for a share `edit_share` of the proposals (default 0.5), drawn from
    # each proposal's own randomness. Whatever was asked, a reply may give any file whole or as edits.
    reply_format: Literal["full", "edits", "mixed"] = "full"
    edit_share: float | None = Field(None, gt=0, lt=1)  # only with "mixed"

    @model_validator(mode="after")
    def _share_needs_mixed(self) -> LLM:
        if self.edit_share is not None and self.reply_format != "mixed":
            raise ValueError('llm.edit_share is only used with reply_format = "mixed"')
        return self

    def edit_probability(self) -> float:
        """The chance that a proposal's prompt asks for edits."""
        mixed = 0.5 if self.edit_share is None else self.edit_share
        return {"full": 0.0, "edits": 1.0, "mixed": mixed}[self.reply_format]


class Islands(_Strict):
    count: int = Field(2, ge=1, le=64)
    personas: Literal["all", "school"] = "all"  # school: each island gets its own share of the personas


class Selection(_Strict):
    method: Literal["tournament", "weighted"] = "tournament"
    tournament_size: int = Field(3, ge=1)
    # The island's best is chosen outright this often (OpenEvolve's exploitation ratio is 0.7); otherwise
    # `method` chooses. Single objective only: a Pareto island has no one best.
    elite: float = Field(0.5, ge=0, le=1)
    temperature: float = Field(0.05, gt=0)  # weighted: how sharply lower losses are preferred
    children_penalty: float = Field(0.5, ge=0)  # weighted: parents with many children are picked less


class Operators(_Strict):
    mutate: float = Field(0.7, ge=0)
    crossover: float = Field(0.2, ge=0)
    repair: float = Field(0.1, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> Operators:
        if self.mutate + self.crossover + self.repair <= 0:
            raise ValueError("operators: at least one weight must be positive")
        return self


class PersonaChoice(_Strict):
    method: Literal["uniform", "bandit"] = "bandit"
    exploration: float = Field(1.0, ge=0)  # UCB1's c: larger tries under-used personas more


class Migration(_Strict):
    interval: int = Field(4, ge=1)  # finished candidates per island between migrations
    top_k: int = Field(1, ge=1)


class Budget(_Strict):
    max_evals: int = Field(20, ge=1)
    max_minutes: float | None = Field(None, gt=0)
    max_cost_usd: float | None = Field(None, gt=0)
    max_llm_calls: int | None = Field(None, ge=1)  # default: LLM_CALLS_PER_EVAL per evaluation in the budget

    def llm_call_limit(self) -> int:
        return self.max_llm_calls if self.max_llm_calls is not None else LLM_CALLS_PER_EVAL * self.max_evals


class Evaluation(_Strict):
    workers: int = Field(1, ge=1, le=64)  # evaluation slots (one per device)
    timeout_s: float | None = Field(None, gt=0)  # default: the task's
    confirm_seeds: int = Field(2, ge=0, le=10)  # extra seeds before a candidate becomes an island's best
    seed: int = 1337  # first evaluation seed; confirmations use the next ones
    smoke: bool = False  # the task's tiny budget: seconds per evaluation
    executor: Literal["local", "ray"] = "local"  # where evaluations run: this machine, or a Ray cluster
    # ray: "auto" (the cluster this machine belongs to, or RAY_ADDRESS), "host:port" of a head node, or
    # unset to start a private Ray instance on this machine. Rejected with the local executor: it would be dead.
    ray_address: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _ray_address_needs_ray(self) -> Evaluation:
        if self.ray_address is not None and self.executor != "ray":
            raise ValueError("evaluation.ray_address is only used with executor = \"ray\"")
        return self


class Pruning(_Strict):
    """Stop trainings that cannot win (scoring/prune.py): after `warmup` of the training budget, a candidate
    whose best validation loss is more than `margin` above its island's best at the same step ends `pruned`:
    its partial curve is kept, it is never a parent, and it counts for its persona as a child that did not
    improve. The island's best it is held to is fixed when it is proposed (its `prune_reference`), so a
    resumed campaign prunes exactly as the original would have. Off by default; the margin is calibrated in
    BENCHMARKS.md ("Calibrating the pruning margin", bench/prune_calibration.py). Confirmation seeds are never
    pruned. Not with a Pareto objective: a worse loss may still be a cheaper front point."""

    enabled: bool = False
    warmup: float = Field(0.3, ge=0, lt=1)  # share of the training budget (batches) before any decision
    margin: float = Field(0.11, gt=0)  # nats: 1.5x the largest lead over a winner in bench/prune_calibration.py


class Start(_Strict):
    """Start from another campaign's best programs instead of the task's seed (`launch --from`)."""

    campaign: str | None = None  # its folder under populations/ (or a path); with `db`, its name there
    db: str | None = None  # its database URL, when it is not the campaign folder's lineage.db
    top: int = Field(1, ge=1, le=64)  # how many of its best confirmed candidates seed the islands


class CampaignConfig(_Strict):
    task: str | None = None  # a task folder; default: the built-in Shakespeare task
    personas: str | None = None  # folder of persona files; default: the built-in five
    seed: int = 0  # the campaign's randomness: every choice derives from (seed, event number)
    models: tuple[ModelChoice, ...] = (ModelChoice(),)
    llm: LLM = LLM()
    islands: Islands = Islands()
    selection: Selection = Selection()
    operators: Operators = Operators()
    persona_choice: PersonaChoice = PersonaChoice()
    migration: Migration = Migration()
    budget: Budget = Budget()
    evaluation: Evaluation = Evaluation()
    pruning: Pruning = Pruning()
    start: Start = Start()

    @model_validator(mode="after")
    def _models(self) -> CampaignConfig:
        if not self.models:
            raise ValueError("models: at least one model is needed")
        return self


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The settings table a field holds: the model itself, or the one inside a tuple or an optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, get_args(annotation)) if m is not None), None)


def _keys_beside(loc: tuple[Any, ...]) -> list[str]:
    """The keys the table holding `loc`'s last key knows (empty if the path leads nowhere known)."""
    model: type[BaseModel] | None = CampaignConfig
    for part in loc[:-1]:
        if isinstance(part, int):  # an item of an array of tables ([[models]])
            continue
        field = model.model_fields.get(part) if model else None
        model = _model_in(field.annotation) if field else None
        if model is None:
            return []
    return list(model.model_fields)


def _one_line(e: ValidationError, where: str) -> InputError:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        key, path = str(err["loc"][-1]), err["loc"][:-1]
        close = get_close_matches(key, _keys_beside(err["loc"]), n=1, cutoff=0.6)
        hint = f" (did you mean {'.'.join([*map(str, path), close[0]])!r}?)" if close else ""
        return InputError(f"{where}: unknown setting {loc!r}{hint}")
    return InputError(f"{where}: {loc}: {err['msg']}")


def validate(data: dict[str, Any], where: str = "campaign settings") -> CampaignConfig:
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as e:
        raise _one_line(e, where) from None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load(path: Path | None, overrides: dict[str, Any] | None = None) -> CampaignConfig:
    """Settings from a TOML file (optional) with flag `overrides` (nested dicts) on top."""
    data: dict[str, Any] = {}
    where = "campaign settings"
    if path is not None:
        where = str(path)
        if not path.is_file():
            raise InputError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: not valid TOML ({e})") from None
    return validate(_merge(data, overrides or {}), where)


def to_toml(config: CampaignConfig) -> str:
    """The settings as a TOML file a user can read, edit and pass back with --config."""
    data = config.model_dump(mode="json", exclude_none=True)
    lines: list[str] = []
    for key, value in data.items():
        if not isinstance(value, (dict, list)):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list):
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
