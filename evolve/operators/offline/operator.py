"""The offline operator: a deterministic, built-in stand-in for an LLM (`--model offline`).

It receives the request a prompt was rendered from (operators/context.py's Request: the persona's tags,
the parent file(s), the earlier attempts), in process or through the loopback server (which gets it as
JSON beside the messages), and answers in the reply format an LLM uses and the request asks for (a summary
line, then one fenced block per file, empty for an unchanged file; or, for edits, one block of SEARCH/REPLACE
edits per changed file), so its answers go through the same parser.

- mutate: picks one applicable catalog edit, weighted toward edits sharing a tag with the persona and by
  the catalog's expert priors, or the generic numeric perturbation (the only choice for tasks the
  catalog does not know). Edits the prompt lists among the earlier attempts from this parent are left
  out while others remain, as a model told what was tried would do;
- crossover: adds to parent A the catalog edits parent B has and A lacks, and takes some of B's
  differing numeric settings; if B brings nothing new, it mutates A instead and says so;
- repair: undoes the parent's last change when the summary names it (catalog edit or perturbation), else
  one of its catalog edits; for a timeout or a compute cap with nothing to undo, halves a size setting;
  otherwise it says it found no fix (a reply without blocks, which the parser rejects as unparseable).
Deterministic: the choice depends only on `seed` and the prompt text.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping

from evolve.kinds import Operator, ReplyFormat
from evolve.operators.context import Request
from evolve.operators.edits import edit_block, edits_between
from evolve.operators.fences import file_block
from evolve.operators.offline.catalog import CATALOG, GENERIC_TAGS, PRIORS
from evolve.operators.offline.edits import Edit
from evolve.operators.offline.perturb import find_sites, fmt, perturb, set_constant

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


def _options(view: Request, files: Mapping[str, str], has_sites: bool) -> list[tuple[Edit, dict]]:
    """The catalog edits that apply to `files`, with their results; those the earlier attempts from this
    parent tried are left out while something else remains."""
    options = [(e, out) for e in CATALOG if (out := e.apply(files)) is not None]
    tried = "\n".join(view.tried)
    fresh = [(e, out) for e, out in options if f"[{e.name}]" not in tried]
    return fresh if (fresh or has_sites) else options  # everything tried: repeat rather than say nothing


def _mutate(view: Request, files: Mapping[str, str], rng: random.Random) -> tuple[dict, str] | None:
    has_sites = bool(find_sites(files, view.frozen_names, view.frozen_file, view.end_marker))
    edits = _options(view, files, has_sites)
    options: list[tuple[Edit | None, dict | None]] = [*edits]
    weights = [PRIORS.get(e.name, 1.0) * _weight(e.tags, view.tags) for e, _ in edits]
    if has_sites:
        options.append((None, None))  # the generic perturbation
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


def _take_edits(a: Mapping[str, str], b: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Parent A with the catalog edits parent B has and A lacks."""
    files, taken = dict(a), []
    for e in CATALOG:
        out = e.apply(files) if e.applied(b) and not e.applied(files) else None
        if out is not None:
            files, taken = out, taken + [e.name]
    return files, taken


def _take_constants(files: dict[str, str], b: Mapping[str, str], view: Request,
                    rng: random.Random) -> tuple[dict[str, str], list[str]]:
    """`files` with some of parent B's differing numeric settings, each taken with probability 1/2."""
    mine, theirs, taken = _constants(files, view), _constants(b, view), []
    for name in sorted(set(mine) & set(theirs)):
        if mine[name] == theirs[name] or rng.random() >= 0.5:
            continue
        out = set_constant(files, name, fmt(mine[name]), fmt(theirs[name]), view.frozen_names,
                           view.frozen_file, view.end_marker)
        if out is not None:
            files, taken = out, taken + [f"{name}={fmt(theirs[name])}"]
    return files, taken


def _crossover(view: Request, rng: random.Random) -> tuple[dict, str] | None:
    b = view.other or {}
    files, edits = _take_edits(view.parent, b)
    files, settings = _take_constants(files, b, view, rng)
    if edits or settings:
        return files, f"[crossover] parent A plus from parent B: {', '.join(edits + settings)}"
    fallback = _mutate(view, view.parent, rng)
    if fallback is None:
        return None
    return fallback[0], f"{fallback[1]} (parent B brought nothing new, so parent A was mutated instead)"


def _undo_perturbation(view: Request, rng: random.Random) -> tuple[dict, str] | None:
    """The parent's last change was a perturbation: set the constant back."""
    m = re.search(r"\[perturb\] (\S+) (" + _NUMBER + ") -> (" + _NUMBER + ")", view.last_change)
    if m is None:
        return None
    name, before, after = m.groups()
    out = set_constant(view.parent, name, after, before, view.frozen_names, view.frozen_file, view.end_marker)
    return None if out is None else (out, f"[repair] undo the last change: {name} back to {before}")


def _undo_edit(view: Request, rng: random.Random) -> tuple[dict, str] | None:
    """Revert the catalog edit the last change names, else one of the parent's edits at random."""
    files = view.parent
    named = [e for e in CATALOG if f"[{e.name}]" in view.last_change and e.revert(files) is not None]
    others = [e for e in CATALOG if e.applied(files) and e.revert(files) is not None]
    if not (named or others):
        return None
    e = named[0] if named else rng.choice(others)
    return e.revert(files), f"[repair] undo [{e.name}] ({e.summary})"


def _halve_a_size(view: Request, rng: random.Random) -> tuple[dict, str] | None:
    """A parent that ran out of time with nothing to undo: halve its largest integer setting."""
    if "timeout" not in view.failure and "over_budget" not in view.failure:
        return None
    sizes = [s for s in find_sites(view.parent, view.frozen_names, view.frozen_file, view.end_marker)
             if isinstance(s.value, int) and s.value > 1 and not s.label.endswith(")")]
    if not sizes:
        return None
    site = max(sizes, key=lambda s: (s.value, s.label))
    out = set_constant(view.parent, site.label, fmt(site.value), fmt(site.value // 2), view.frozen_names,
                       view.frozen_file, view.end_marker)
    return None if out is None else (out, f"[repair] timed out: {site.label} {site.value} -> {site.value // 2}")


def _repair(view: Request, rng: random.Random) -> tuple[dict, str] | None:
    """The first fix that applies, in this order; None when none does."""
    for fix in (_undo_perturbation, _undo_edit, _halve_a_size):
        result = fix(view, rng)
        if result is not None:
            return result
    return None


def _edited(name: str, old: str, new: str) -> str:
    """`name`'s change as a block of edits, or whole where edits cannot say it (edits.edits_between)."""
    edits = edits_between(old, new)
    return file_block(name, new) if edits is None else edit_block(name, edits)


def render_reply(summary: str, parent: Mapping[str, str], files: Mapping[str, str],
                 editable: tuple[str, ...], reply: ReplyFormat = ReplyFormat.FULL) -> str:
    """The reply an LLM would give: a summary line, then, whole, one block per file (empty when unchanged),
    or, as edits, one block of edits per changed file."""
    if reply == ReplyFormat.EDITS:
        blocks = [_edited(n, parent.get(n, ""), files[n]) for n in editable if files.get(n) != parent.get(n)]
    else:
        blocks = [file_block(n, files[n] if files.get(n) != parent.get(n) else "") for n in editable]
    return f"{summary}\n\n" + "\n\n".join(blocks) + "\n"


_ANSWER = {Operator.MUTATE: lambda view, rng: _mutate(view, view.parent, rng),
           Operator.CROSSOVER: _crossover, Operator.REPAIR: _repair}


def respond(prompt: str, request: Request, seed: int = 0) -> str:
    """The offline operator's reply to `prompt`, answered from the `request` it was rendered from
    (evolve.operators.prompts). The draw depends on `seed` and the prompt's text."""
    result = _ANSWER[request.operator](request, _rng(seed, prompt))
    if result is None:
        return f"The offline operator found no applicable edit for this {request.operator} request.\n"
    files, summary = result
    return render_reply(f"{request.persona}: {summary}", request.parent, files, request.editable,
                        request.reply_format)


def mutate_files(files: Mapping[str, str], *, frozen_names: tuple[str, ...] = (), frozen_file: str | None = None,
                 end_marker: str | None = None, seed: int = 0, key: str = "") -> tuple[dict[str, str], str] | None:
    """One mutate step on plain files, without a persona-evolve prompt: what the loopback server answers
    a peer framework's request with (bench/peer), so both frameworks draw from the same edits. No persona,
    so every edit is equally weighted; `key` (e.g. the request text) varies the choice like the prompt does.
    """
    view = Request(operator=Operator.MUTATE, persona="", tags=(), parent=dict(files), other=None,
                   editable=tuple(files), frozen_file=frozen_file, end_marker=end_marker,
                   frozen_names=tuple(frozen_names), last_change="", failure="")
    return _mutate(view, view.parent, _rng(seed, key))
