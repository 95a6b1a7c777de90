"""The LLM client: one call in, one CallRecord out, through litellm or the built-in offline operator.

- Any litellm model string (`gpt-4o-mini`, `anthropic/...`, `ollama/...`, `openai/<name>` with an
  `api_base`), or `offline`. Several models with weights: the campaign draws one per call with `pick`.
- Its settings are the campaign's (`evolve.config.LLM` and `ModelChoice`): defined and validated once.
- litellm is imported lazily (it takes seconds) with LITELLM_LOCAL_MODEL_COST_MAP=True, so nothing is
  fetched at start-up.
- `check()` runs before a campaign starts: an unknown model or a missing API key is an InputError naming
  the model or the variable. With an `api_base` (a local or self-hosted server) a missing key is not an
  error: a placeholder key is sent, since such servers usually ignore it. A bare name (no provider prefix,
  no api_base) that litellm's own model map (read as a file) neither lists nor routes is refused without
  importing litellm, with the closest names as suggestions (`offlne`: did you mean 'offline'?).
- Retries with exponential backoff on transient errors only (rate limit, connection, timeout, 5xx);
  litellm's and the OpenAI client's own retries are switched off so the count is ours.
- A call never raises for a failed request: the CallRecord carries the error. Errors in the caller's
  settings (an unknown model when check() was skipped) are recorded the same way.
- At most `concurrency` calls run at once, across threads (and `acomplete` for asyncio callers).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import os
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from functools import cache
from pathlib import Path
from typing import Any

from evolve.config import LLM, ModelChoice
from evolve.operators.context import Request
from evolve.operators.offline.operator import MODEL_NAME as OFFLINE
from evolve.operators.offline.operator import respond
from evolve.operators.server import MODEL as LOOPBACK_MODEL
from evolve.operators.server import REQUEST_FIELD, count_tokens
from scoring.errors import InputError

_LOCAL_KEY = "not-needed"  # sent to an api_base that needs no key
_TRANSIENT = ("RateLimitError", "APIConnectionError", "Timeout", "ServiceUnavailableError",
              "InternalServerError", "BadGatewayError")
_litellm: Any = None
_import_lock = threading.Lock()


def litellm_module() -> Any:
    """litellm, imported on first use with the offline cost map and without its console chatter."""
    global _litellm
    with _import_lock:
        if _litellm is None:
            os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
            import litellm

            litellm.suppress_debug_info = True
            litellm.telemetry = False
            _litellm = litellm
    return _litellm


_MODEL_MAP = "model_prices_and_context_window_backup.json"  # what litellm reads with the local cost map
_MODEL_LISTS = ("constants.py", "__init__.py")  # where litellm lists the models its map does not (as literals)
_LITERAL = re.compile(r'"([^"\\\s]{1,200})"')
_NOT_KNOWN = "neither 'offline' nor a model litellm knows (give its provider: openai/NAME, anthropic/NAME, ...)"


@dataclass(frozen=True)
class _ModelMap:
    names: tuple[str, ...]  # every model the map lists, as written (for suggestions)
    lowered: frozenset[str]  # those names, their last path part (`bedrock/x` -> `x`) and every string in
    # litellm's own model lists (more than models: a name found there is left to litellm), lower case
    patterns: tuple[re.Pattern[str], ...]  # the map's rules for names it does not list


@cache
def _model_map() -> _ModelMap | None:
    """litellm's model map and model lists read as files: no import (seconds), no network. None if they
    cannot be read."""
    try:
        spec = importlib.util.find_spec("litellm")
        folder = Path(next(iter(spec.submodule_search_locations)))  # type: ignore[union-attr,arg-type]
        table = json.loads((folder / _MODEL_MAP).read_text(encoding="utf-8"))
        rules = table.pop("fallback_generalizations", {}).get("rules", [])
        patterns = tuple(re.compile(r["pattern"], re.IGNORECASE) for r in rules)
        literals = {m for f in _MODEL_LISTS for m in _LITERAL.findall((folder / f).read_text(encoding="utf-8"))}
    except Exception:  # not installed, moved or reshaped by a new litellm: litellm itself decides
        return None
    table.pop("sample_spec", None)
    lowered = {k.lower() for k in table} | {k.rsplit("/", 1)[-1].lower() for k in table} | {m.lower() for m in literals}
    return _ModelMap(tuple(table), frozenset(lowered), patterns)


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = get_close_matches(name, choices, n=3, cutoff=0.75)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _left_to_litellm(name: str, api_base: str | None) -> bool:
    """Names litellm routes by rules of its own: a provider prefix, an api_base, a `:` (fine-tunes, Bedrock
    and Replicate ids), its proxy mode, or a prefix its code routes."""
    if api_base or "/" in name or ":" in name or name == "*" or os.environ.get("USE_LITELLM_PROXY"):
        return True
    return name.lower().startswith(("gpt-image", "amazon_nova"))


def clearly_unknown(name: str, api_base: str | None = None) -> bool:
    """Whether `name` cannot be a model litellm accepts, decided without importing litellm; False when it
    may be one (litellm then decides). Only a bare name is decided here."""
    if name == OFFLINE or _left_to_litellm(name, api_base):
        return False
    known = _model_map()
    return not (known is None or name.lower() in known.lowered or any(p.search(name) for p in known.patterns))


def _unknown(name: str) -> InputError:
    """A bare name litellm does not know, in one line, with the closest known names."""
    known = _model_map()
    names = (OFFLINE, *(known.names if known else ()))
    return InputError(f"unknown model {name!r}: {_NOT_KNOWN}" + _suggest(name, names))


def _provider_error(name: str, error: Exception, litellm: Any) -> InputError:
    """litellm could not tell the provider of `name`: say so in one whole line, with a suggestion."""
    text = str(error).strip()
    if "LLM Provider NOT provided" in text and "/" in name:
        prefix, rest = name.split("/", 1)
        providers = sorted({str(getattr(p, "value", p)) for p in litellm.provider_list})
        close = get_close_matches(prefix, providers, n=3, cutoff=0.75)
        hint = f"; did you mean {' or '.join(repr(f'{c}/{rest}') for c in close)}?" if close else ""
        return InputError(f"unknown model {name!r}: litellm knows no provider {prefix!r}{hint}")
    if "LLM Provider NOT provided" in text:
        return _unknown(name)
    first = text.splitlines()[0].removeprefix("litellm.BadRequestError: ").strip() if text else type(error).__name__
    return InputError(f"unknown model {name!r}: litellm cannot tell its provider ({first})")


@dataclass(frozen=True)
class CallRecord:
    """One LLM call, as the campaign writes it to the llm_calls table."""

    model: str
    prompt_hash: str
    reply: str | None
    error: str | None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None  # litellm's price where it knows the model; 0.0 for offline
    latency_s: float = 0.0  # all attempts, backoff included
    attempts: int = 1
    api_base: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.error is None and self.reply is not None


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def _secret_names(names: Sequence[str]) -> list[str]:
    return [n for n in names if any(w in n.upper() for w in ("KEY", "TOKEN", "SECRET"))]


class LLMClient:
    """`settings` and `models` are validated campaign settings; `seed` is the offline operator's seed (and
    is sent as `seed` to providers that honour it)."""

    def __init__(self, settings: LLM = LLM(), models: Sequence[ModelChoice] = (ModelChoice(),),  # noqa: B008
                 seed: int = 0):
        if not models:
            raise InputError("no model configured")
        if any(not m.name.strip() for m in models):
            raise InputError("a model name is empty")
        self.settings, self.models, self.seed = settings, tuple(models), seed
        # A campaign keeps `concurrency` calls live and may start as many again beside calls that stalled
        # (evolve/pacing.py): this bounds them all.
        self._slots = threading.BoundedSemaphore(2 * settings.concurrency)
        self._keys: dict[str, str] = {}  # model -> placeholder api_key for keyless api_base servers

    def check(self) -> None:
        """Fail before the campaign starts on an unknown model or a missing API key (InputError)."""
        for spec in self.models:
            if spec.name == OFFLINE:
                continue
            if clearly_unknown(spec.name, spec.api_base):
                raise _unknown(spec.name)
            litellm = litellm_module()
            try:
                litellm.get_llm_provider(spec.name, api_base=spec.api_base)
            except Exception as e:
                raise _provider_error(spec.name, e, litellm) from None
            env = litellm.validate_environment(model=spec.name, api_base=spec.api_base)
            missing = _secret_names(env.get("missing_keys") or [])
            if missing and spec.api_base:
                self._keys[spec.name] = _LOCAL_KEY
            elif missing:
                raise InputError(f"model {spec.name!r} needs {', '.join(missing)} in the environment "
                                 "(or give an api_base for a keyless local server)")

    def pick(self, u: float) -> ModelChoice:
        """The model for a uniform draw `u` in [0, 1): weighted, so the campaign's own RNG decides."""
        total = sum(s.weight for s in self.models)
        acc = 0.0
        for spec in self.models:
            acc += spec.weight / total
            if u < acc:
                return spec
        return self.models[-1]

    def complete(self, prompt: str, model: ModelChoice | None = None, *, seed: int | None = None,
                 request: Request | None = None) -> CallRecord:
        """`request`: what the prompt was rendered from (prompts.Prompt.request). The offline operator
        answers from it, in process or through the loopback server (`is_loopback`), where it travels as
        JSON beside the messages; a real model reads the text and is never sent it."""
        spec = model or self.models[0]
        seed = self.seed if seed is None else seed
        with self._slots:
            if spec.name == OFFLINE:
                return self._offline(prompt, seed, request)
            return self._remote(prompt, spec, seed, request)

    async def acomplete(self, prompt: str, model: ModelChoice | None = None, *, seed: int | None = None,
                        request: Request | None = None) -> CallRecord:
        return await asyncio.to_thread(self.complete, prompt, model, seed=seed, request=request)

    def _offline(self, prompt: str, seed: int, request: Request | None) -> CallRecord:
        if request is None:
            return CallRecord(OFFLINE, prompt_hash(prompt), None, "the offline operator answers only "
                              "persona-evolve prompts: the call carries no Request (prompts.Prompt.request)")
        t0 = time.perf_counter()
        reply = respond(prompt, request, seed)
        return CallRecord(OFFLINE, prompt_hash(prompt), reply, None, count_tokens(prompt), count_tokens(reply),
                          0.0, time.perf_counter() - t0, notes=("token counts are estimates (4 chars each)",))

    def _arguments(self, prompt: str, spec: ModelChoice, seed: int, request: Request | None) -> dict[str, Any]:
        """litellm.completion's arguments. The structured request goes only to our own loopback server: a
        real provider may refuse a field it does not know."""
        s = self.settings
        kwargs: dict[str, Any] = dict(
            model=spec.name, messages=[{"role": "user", "content": prompt}], temperature=s.temperature,
            max_tokens=s.max_tokens, timeout=s.timeout_s, num_retries=0, max_retries=0, seed=seed,
        )
        if spec.api_base:
            kwargs["api_base"] = spec.api_base
        if spec.name in self._keys:
            kwargs["api_key"] = self._keys[spec.name]
        if request is not None and is_loopback(spec):
            kwargs["extra_body"] = {REQUEST_FIELD: request.to_wire()}
        return kwargs

    def _remote(self, prompt: str, spec: ModelChoice, seed: int, request: Request | None) -> CallRecord:
        litellm = litellm_module()
        t0 = time.perf_counter()
        response, error, attempts = self._send(litellm, self._arguments(prompt, spec, seed, request))
        latency = time.perf_counter() - t0
        failed = CallRecord(spec.name, prompt_hash(prompt), None, error, latency_s=latency, attempts=attempts,
                            api_base=spec.api_base)
        if error is not None:
            return failed
        try:
            reply = response.choices[0].message.content or ""
        except (AttributeError, IndexError) as e:
            return replace(failed, error=f"malformed response: {e}")
        usage = getattr(response, "usage", None)
        return CallRecord(spec.name, prompt_hash(prompt), reply, None,
                          getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None),
                          _cost(litellm, response), latency, attempts, spec.api_base)

    def _send(self, litellm: Any, kwargs: dict[str, Any]) -> tuple[Any, str | None, int]:
        """(response, None, attempts), or (None, the last error, attempts): transient errors are retried
        with exponential backoff, up to `retries` times."""
        attempts = 0
        while True:
            attempts += 1
            try:
                return litellm.completion(**kwargs), None, attempts
            except Exception as e:
                error = f"{type(e).__name__}: {' '.join(str(e).split())[:500]}"
                if type(e).__name__ not in _TRANSIENT or attempts > self.settings.retries:
                    return None, error, attempts
                backoff = self.settings.retry_backoff_s * 2 ** (attempts - 1)
                time.sleep(min(60.0, backoff) * random.uniform(0.75, 1.0))


def is_loopback(spec: ModelChoice) -> bool:
    """Whether `spec` is our loopback server (evolve.operators.server): its model name at an api_base."""
    return spec.name == LOOPBACK_MODEL and bool(spec.api_base)


def _cost(litellm: Any, response: Any) -> float | None:
    """The call's price; None when litellm has none for the model (local servers, new models)."""
    hidden = getattr(response, "_hidden_params", None) or {}
    if "response_cost" in hidden:  # litellm priced the response while building it: not twice
        return None if hidden["response_cost"] is None else float(hidden["response_cost"])
    try:
        return float(litellm.completion_cost(completion_response=response))
    except Exception:
        return None
