"""The offline operator: a deterministic, built-in stand-in for an LLM (`--model offline`).

It receives the request a prompt was rendered from (operators/context.py's Request: the persona's tags,
the parent file(s), the earlier attempts), or, through the loopback server where text is all there is,
reads it back from the prompt (prompt_view.py); and answers in the reply format an LLM uses (a summary line, then one
fenced block per file, empty for an unchanged file), so its answers go through the same parser.

- mutate: picks one applicable catalog edit, weighted toward edits sharing a tag with the persona and by
  the catalog's expert priors, or the generic numeric perturbation (the only choice for tasks the
  catalog does not know). Edits the prompt lists among the earlier attempts from this parent are left
  out while others remain, as a model told what was tried would do;
- crossover: adds to parent A the catalog edits parent B has and A lacks, and takes some of B's
  differing numeric settings; if B brings nothing new, it mutates A instead and says so;
- repair: undoes the parent's last change when the summary names it (catalog edit or perturbation), else
  one of its catalog edits; for a timeout or a compute cap with nothing to undo, halves a size setting; otherwise it
  says it found no fix (a reply without blocks, which the parser rejects as unparseable).
Deterministic: the choice depends only on `seed` and the prompt text.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping

from evolve.operators.context import Request
from evolve.operators.fences import file_block
from evolve.operators.offline.catalog import CATALOG, GENERIC_TAGS, PRIORS
from evolve.operators.offline.perturb import find_sites, fmt, perturb, set_constant
from evolve.operators.offline.prompt_view import read_prompt

MODEL_NAME = "offline"
_TAG_WEIGHT = 3  # an edit sharing k tags with the persona is (1 + 3k) times as likely


def _rng(seed: int, prompt: str) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{seed}\n{prompt}".encode()).hexdigest()[:16], 16))


def _weight(tags: tuple[str, ...], persona_tags: tuple[str, ...]) -> int:
    return 1 + _TAG_WEIGHT * len(set(tags) & set(persona_tags))


def _perturb(view: Request, files: Mapping[str, str], rng: random.Random) -> tuple[dict, str] | None:
    tried = "\n".join(view.tried)
    for _ in range(4):  # a perturbation already tried from this parent is drawn again
        out = perturb(files, view.frozen_names, view.frozen_file, view.end_marker, rng)
        if out is None or f"[perturb] {out[1]}" not in tried:
            break
    return None if out is None else (out[0], f"[perturb] {out[1]}")


def _mutate(view: Request, files: Mapping[str, str], rng: random.Random) -> tuple[dict, str] | None:
    options = [(e, e.apply(files)) for e in CATALOG]
    options = [(e, out) for e, out in options if out is not None]
    has_sites = bool(find_sites(files, view.frozen_names, view.frozen_file, view.end_marker))
    tried = "\n".join(view.tried)
    fresh = [(e, out) for e, out in options if f"[{e.name}]" not in tried]
    options = fresh if (fresh or has_sites) else options  # everything tried: repeat rather than say nothing
    weights = [PRIORS.get(e.name, 1.0) * _weight(e.tags, view.tags) for e, _ in options]
    if has_sites:
        options.append((None, None))
        weights.append(_weight(GENERIC_TAGS, view.tags))
    if not options:
        return None
    chosen, out = rng.choices(options, weights=weights)[0]
    if chosen is None:
        return _perturb(view, files, rng)
    return out, f"[{chosen.name}] {chosen.summary}"


_NUMBER = r"-?[0-9][0-9.e+-]*"


def _constants(files: Mapping[str, str], view: Request) -> dict[str, float | int]:
    return {s.label: s.value for s in find_sites(files, view.frozen_names, view.frozen_file, view.end_marker)
            if not s.label.endswith(")")}


def _crossover(view: Request, rng: random.Random) -> tuple[dict, str] | None:
    a, b = view.parent, view.other or {}
    files, taken = dict(a), []
    for e in CATALOG:
        if e.applied(b) and not e.applied(files):
            out = e.apply(files)
            if out is not None:
                files, taken = out, taken + [e.name]
    a_consts, b_consts = _constants(files, view), _constants(b, view)
    for name in sorted(set(a_consts) & set(b_consts)):
        if a_consts[name] != b_consts[name] and rng.random() < 0.5:
            out = set_constant(files, name, fmt(a_consts[name]), fmt(b_consts[name]), view.frozen_names,
                               view.frozen_file, view.end_marker)
            if out is not None:
                files, taken = out, taken + [f"{name}={fmt(b_consts[name])}"]
    if taken:
        return files, f"[crossover] parent A plus from parent B: {', '.join(taken)}"
    fallback = _mutate(view, a, rng)
    if fallback is None:
        return None
    return fallback[0], f"{fallback[1]} (parent B brought nothing new, so parent A was mutated instead)"


def _repair(view: Request, rng: random.Random) -> tuple[dict, str] | None:
    files = view.parent
    last = view.last_change
    m = re.search(r"\[perturb\] (\S+) (" + _NUMBER + ") -> (" + _NUMBER + ")", last)
    if m:
        out = set_constant(files, m.group(1), m.group(3), m.group(2), view.frozen_names, view.frozen_file,
                           view.end_marker)
        if out is not None:
            return out, f"[repair] undo the last change: {m.group(1)} back to {m.group(2)}"
    named = [e for e in CATALOG if f"[{e.name}]" in last and e.revert(files) is not None]
    others = [e for e in CATALOG if e not in named and e.applied(files) and e.revert(files) is not None]
    if named or others:
        e = named[0] if named else rng.choice(others)
        return e.revert(files), f"[repair] undo [{e.name}] ({e.summary})"
    if "timeout" in view.failure or "over_budget" in view.failure:
        sizes = [s for s in find_sites(files, view.frozen_names, view.frozen_file, view.end_marker)
                 if isinstance(s.value, int) and s.value > 1 and not s.label.endswith(")")]
        if sizes:
            site = max(sizes, key=lambda s: (s.value, s.label))
            out = set_constant(files, site.label, fmt(site.value), fmt(site.value // 2), view.frozen_names,
                               view.frozen_file, view.end_marker)
            if out is not None:
                return out, f"[repair] timed out: {site.label} {site.value} -> {site.value // 2}"
    return None


def render_reply(summary: str, parent: Mapping[str, str], files: Mapping[str, str],
                 editable: tuple[str, ...]) -> str:
    """The reply an LLM would give: a summary line, then one block per file (empty when unchanged)."""
    blocks = [file_block(n, files[n] if files.get(n) != parent.get(n) else "") for n in editable]
    return f"{summary}\n\n" + "\n\n".join(blocks) + "\n"


def respond(prompt: str, seed: int = 0, request: Request | None = None) -> str:
    """The offline operator's reply to a prompt rendered by evolve.operators.prompts, from the `request` it
    was rendered from when given, else from what the text says. The draw depends on `seed` and the text."""
    view = request if request is not None else read_prompt(prompt)
    if view is None:
        return ("The offline operator only answers prompts rendered by persona-evolve (it found no "
                "'# This request' section with parent files).\n")
    rng = _rng(seed, prompt)
    if view.operator == "crossover":
        result = _crossover(view, rng)
    elif view.operator == "repair":
        result = _repair(view, rng)
    else:
        result = _mutate(view, view.parent, rng)
    if result is None:
        return f"The offline operator found no applicable edit for this {view.operator} request.\n"
    files, summary = result
    editable = view.editable or tuple(view.parent)
    return render_reply(f"{view.persona}: {summary}", view.parent, files, editable)


def mutate_files(files: Mapping[str, str], *, frozen_names: tuple[str, ...] = (), frozen_file: str | None = None,
                 end_marker: str | None = None, seed: int = 0, key: str = "") -> tuple[dict[str, str], str] | None:
    """One mutate step on plain files, without a persona-evolve prompt: what the loopback server answers
    a peer framework's request with (bench/peer), so both frameworks draw from the same edits. No persona,
    so every edit is equally weighted; `key` (e.g. the request text) varies the choice like the prompt does.
    """
    view = Request(operator="mutate", persona="", tags=(), parent=dict(files), other=None,
                      editable=tuple(files), frozen_file=frozen_file, end_marker=end_marker,
                      frozen_names=tuple(frozen_names), last_change="", failure="")
    return _mutate(view, view.parent, _rng(seed, key))
