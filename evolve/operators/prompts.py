"""Prompt rendering for the three operators: mutate, crossover, repair.

A prompt is the persona's text, then the parent's files, the task's constraints and the bounded context.
Files are fenced blocks named on their first line, the same format the reply must use. Beside the text,
`Prompt.request` holds what it asks for as values (context.Request): the offline operator answers from
that, in process or through the loopback server, and never reads the text back.

The context includes the parent's earlier children (`Context.attempts`): what each tried and how it
ended, with the reason of the newest rejection in full, so a model told its last reply was a duplicate or
broke the frozen block can correct itself instead of repeating it.

The reply format (`ReplyFormat`, from `[llm] reply_format`): FULL asks for each changed file whole, the
persona prompts' own request; EDITS asks for SEARCH/REPLACE edits per file (evolve/operators/edits.py),
stating the format once with one short example. Either way the parser takes a whole file or edits for
each file.

Length is bounded by `Limits.max_chars`. Files are never cut (whole files are shown, and edits must quote
them exactly). What is cut, in this fixed order, and stated at the end of the prompt:
  1. recent changes beyond the newest `max_changes`; each summary beyond `max_change_chars`; earlier
     attempts beyond the newest `max_attempts`;
  2. the error tail beyond its last `max_error_chars`;
  3. if still too long: recent changes, oldest first; then earlier attempts, oldest first; then the
     error tail, down to `min_error_chars`; then the persona text, keeping its beginning.
A prompt whose files and fixed text alone exceed the limit raises PromptTooLong.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

from evolve.kinds import Operator, ReplyFormat
from evolve.operators.context import Attempt, Change, Context, Limits, Parent, Request
from evolve.operators.edits import Edit, edit_block
from evolve.operators.fences import file_block
from evolve.operators.personas import Persona
from scoring.task import Task

MUTATE, CROSSOVER, REPAIR = Operator.MUTATE, Operator.CROSSOVER, Operator.REPAIR
FULL, EDITS = ReplyFormat.FULL, ReplyFormat.EDITS

PARENT_HEADING = "## Parent files"
PARENT_A_HEADING = "## Parent A files"
PARENT_B_HEADING = "## Parent B files"
ERROR_HEADING = "## Error tail of the failed parent"
ATTEMPTS_HEADING = "## Earlier attempts from this parent"

_GOALS = {
    MUTATE: "Improve the parent program: lower its best validation loss within the fixed training budget.",
    CROSSOVER: ("Combine the ideas of parent A and parent B into one program that is better than both: keep "
                "what each does well."),
    REPAIR: ("The parent program failed. Fix it so that it trains and is scored, keeping its ideas where "
             "possible; the error tail is below."),
}


_ANSWER = {  # the prompt's last section, by reply format
    FULL: ("## Your answer\nFirst one line summarizing your change, then one fenced block per file ({files}), "
           "each whose first line is the file name."),
    EDITS: ("## Your answer\nFirst one line summarizing your change, then one fenced block per file you change "
            "({files}), each whose first line is the file name, holding SEARCH/REPLACE edits."),
}

NO_CONTEXT = Context()
DEFAULT_LIMITS = Limits()


class PromptTooLong(ValueError):
    """The files and the fixed text alone exceed the limit; the campaign should not send this prompt."""


@dataclass(frozen=True)
class Prompt:
    text: str
    operator: Operator
    persona: str
    cuts: tuple[str, ...] = ()
    request: Request | None = None  # what the text asks for, as values (the offline operator reads this)

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _loss(value: float | None) -> str:
    return "not scored" if value is None else f"{value:.4f}"


def _files(heading: str, parent: Parent, task: Task, same_as: Parent | None = None) -> str:
    head = f"{heading} (candidate {parent.label or '?'}; best val loss {_loss(parent.fitness)})"
    parts = [head]
    for name in task.editable:
        text = parent.files.get(name, "")
        if same_as is not None and same_as.files.get(name) == text:
            parts.append(f"{name}: identical to parent A")
        else:
            parts.append(file_block(name, text))
    return "\n\n".join(parts)


_EXAMPLE = Edit(("    def forward(self, x):", "        return self.net(x)"),
                ("    def forward(self, x):", "        return self.net(x) * self.scale"))


def _answer_rule(task: Task, reply: ReplyFormat) -> str:
    files = ", ".join(task.editable)
    if reply == ReplyFormat.FULL:
        return (f"- Editable files: {files}. Answer with one fenced block per file whose first line is the file "
                "name, holding the whole new file; an empty block leaves a file unchanged.")
    return (f"- Editable files: {files}. Answer with edits: for each file you change, one fenced block whose "
            "first line is the file name, holding one or more SEARCH/REPLACE edits as in this example; each "
            "SEARCH part copies lines of the current file exactly (indentation included) and must match one "
            "place only. Leave out a file you do not change; to rewrite a file whole, give its block the whole "
            f"file without markers.\n\n{edit_block(task.editable[0], [_EXAMPLE])}\n")


def _constraints(task: Task, reply: ReplyFormat) -> str:
    c = task.constraints()
    return "\n".join([
        "## Constraints",
        _answer_rule(task, reply),
        f"- Frozen file: {c['frozen_file']}; frozen region: {c['frozen_region']}. Keep that region exactly "
        "as it is, and put nothing but a docstring and comments above it.",
        f"- Frozen names (read them, never rebind them): {', '.join(c['frozen_names'])}",
        f"- Private names (only the frozen region may use them): {', '.join(c['private_names'])}",
        f"- Evaluation function: {c['eval_function']} (the fitness is the best loss it records; do not "
        f"compute your own); training batches come only from {c['batch_function']}.",
        f"- Entry point: {c['entry']} must return (best_vloss, elapsed_min).",
        "- Causality: position t's logits may depend only on tokens 0..t (checked after training).",
        "- Objective: minimize the best validation loss (lower is better).",
    ])


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _change_line(change: Change, limit: int) -> str:
    who = "/".join(x for x in (change.persona, change.operator) if x)
    return f"- {'[' + who + '] ' if who else ''}{_short(change.summary, limit)} (delta {change.delta:+.4f})"


def _attempt_line(a: Attempt, limits: Limits, newest_rejection: bool) -> str:
    who = "/".join(x for x in (a.persona, a.operator) if x)
    if a.status == "ok":
        ended = "scored" + (f", delta {a.delta:+.4f}" if a.delta is not None else "")
    elif a.status in ("pending", "running"):
        ended = "not scored yet"
    else:
        room = limits.max_reason_chars if newest_rejection else limits.max_reason_chars // 2
        ended = f"{a.status}: {_short(a.reason, room)}" if a.reason else a.status
    summary = _short(a.summary, limits.max_change_chars) if a.summary.strip() else "(no summary)"
    return f"- candidate {a.label}{' [' + who + ']' if who else ''}: {summary} -> {ended}"


def _attempt_lines(attempts: list[Attempt], limits: Limits) -> list[str]:
    newest = next((i for i, a in enumerate(attempts) if a.status not in ("ok", "pending", "running")), None)
    return [_attempt_line(a, limits, i == newest) for i, a in enumerate(attempts)]


def _attempts(attempts: list[Attempt], limits: Limits, dropped: int) -> str:
    lines = [f"{ATTEMPTS_HEADING} (newest first; do not repeat them, and avoid what made them fail)"]
    lines += _attempt_lines(attempts, limits)
    if dropped:
        lines.append(f"- ({dropped} older attempts not shown)")
    return "\n".join(lines)


def _context(parent: Parent, context: Context, changes: list[Change], limits: Limits, dropped: int) -> str:
    lines = ["## Context",
             f"- Parent best val loss: {_loss(parent.fitness)}",
             f"- Island best val loss: {_loss(context.island_best)}"]
    if parent.change:
        lines.append(f"- Parent's last change: {' '.join(parent.change.split())[: limits.max_change_chars]}")
    if changes or dropped:
        lines.append("")
        lines.append("## Recent successful changes on this island (newest first; delta = child minus parent "
                     "val loss, negative is better)")
        lines += [_change_line(c, limits.max_change_chars) for c in changes]
        if dropped:
            lines.append(f"- ({dropped} older changes not shown)")
    return "\n".join(lines)


def _error_head(parent: Parent) -> str:
    return f"{ERROR_HEADING} (status {parent.status}: {' '.join(parent.reason.split())[:300]})"


def _error(parent: Parent, tail: str) -> str:
    return f"{_error_head(parent)}\n{file_block('log', tail) if tail else '(no log output)'}"


def _request(operator: Operator, persona: Persona, parent: Parent, other: Parent | None, task: Task, limits: Limits,
             tail: str | None, attempts: list[Attempt], reply: ReplyFormat) -> Request:
    fz = task.frozen
    failure = ""
    if tail is not None:
        failure = _error_head(parent) + "\n" + (tail if not tail or tail.endswith("\n") else tail + "\n")
    return Request(
        operator=operator, persona=persona.name, tags=tuple(persona.tags), parent=dict(parent.files),
        other=dict(other.files) if other is not None else None, editable=tuple(task.editable),
        frozen_file=fz.file, end_marker=fz.end_marker, frozen_names=tuple(fz.names),
        last_change=" ".join(parent.change.split())[: limits.max_change_chars] if parent.change else "",
        failure=failure, tried=tuple(_attempt_lines(attempts, limits)), reply_format=reply)


def _assemble(persona: Persona, persona_text: str, operator: Operator, file_sections: list[str], task: Task,
              parent: Parent, context: Context, changes: list[Change], dropped: int, tail: str | None,
              limits: Limits, cuts: list[str], attempts: list[Attempt], attempts_dropped: int,
              reply: ReplyFormat) -> str:
    parts = [persona_text.rstrip(), "# This request",
             f"Operator: {operator}\nPersona: {persona.name} ({persona.title}); "
             f"tags: {', '.join(persona.tags)}\nGoal: {_GOALS[operator]}"]
    parts += file_sections
    parts.append(_constraints(task, reply))
    parts.append(_context(parent, context, changes, limits, dropped))
    if attempts or attempts_dropped:
        parts.append(_attempts(attempts, limits, attempts_dropped))
    if tail is not None:
        parts.append(_error(parent, tail))
    if cuts:
        parts.append(f"## Cut to fit {limits.max_chars} characters\n" + "\n".join(f"- {c}" for c in cuts))
    parts.append(_ANSWER[reply].format(files=", ".join(task.editable)))
    return "\n\n".join(parts) + "\n"


@dataclass
class _Draft:
    """A prompt's parts that are cut to fit, as they stand."""

    changes: list[Change]
    attempts: list[Attempt]
    shed: dict[str, int]  # entries left out, by list ("changes", "attempts")
    tail: str | None  # repair: the error tail shown
    persona_text: str
    cuts: list[str]


def _draft(persona: Persona, parent: Parent, context: Context, limits: Limits, with_error: bool) -> _Draft:
    """Steps 1 and 2 of the stated order: the fixed bounds, each cut stated."""
    cuts: list[str] = []
    changes = list(context.recent[: limits.max_changes])
    if any(len(" ".join(c.summary.split())) > limits.max_change_chars for c in changes):
        cuts.append(f"change summaries shortened to {limits.max_change_chars} characters")
    attempts = list(context.attempts[: limits.max_attempts])
    if len(context.attempts) > len(attempts):
        cuts.append(f"earlier attempts beyond the newest {limits.max_attempts} not shown")
    tail = parent.error_tail if with_error else None
    if tail is not None and len(tail) > limits.max_error_chars:
        tail = tail[-limits.max_error_chars :]
        cuts.append(f"error tail shortened to its last {limits.max_error_chars} characters")
    shed = {"changes": len(context.recent) - len(changes), "attempts": len(context.attempts) - len(attempts)}
    return _Draft(changes, attempts, shed, tail, persona.prompt, cuts)


def _fit(draft: _Draft, build: Callable[[], str], persona: Persona, limits: Limits) -> str:
    """Step 3 of the stated order: cut `draft` until what `build` makes of it fits; that text."""
    text = build()
    for what in ("changes", "attempts"):  # shed context, oldest entries first
        entries: list = getattr(draft, what)
        while len(text) > limits.max_chars and entries:
            entries.pop()
            draft.shed[what] += 1
            draft.cuts[:] = [c for c in draft.cuts if not c.startswith(f"older {what}")] + [
                f"older {what} dropped to fit; the newest are kept"]
            text = build()
    tail = draft.tail
    if tail is not None and len(text) > limits.max_chars and len(tail) > limits.min_error_chars:
        keep = max(limits.min_error_chars, len(tail) - (len(text) - limits.max_chars) - 200)
        draft.tail = tail[-keep:]
        draft.cuts.append(f"error tail shortened to its last {keep} characters to fit")
        text = build()
    if len(text) > limits.max_chars:
        draft.persona_text = _cut_persona(persona, len(text), limits)
        draft.cuts.append("persona text cut, keeping its beginning")
        text = build()
    return text


def _cut_persona(persona: Persona, length: int, limits: Limits) -> str:
    """The persona's text cut so that a prompt of `length` characters fits; PromptTooLong when under 200
    characters of it would remain."""
    keep = len(persona.prompt) - (length - limits.max_chars + 100)
    if keep < 200:
        raise PromptTooLong(f"the parent's files alone need about {length - len(persona.prompt)} "
                            f"characters; the limit is {limits.max_chars}")
    return persona.prompt[:keep].rsplit("\n", 1)[0] + "\n[... persona text cut here ...]"


def _render(operator: Operator, persona: Persona, parent: Parent, file_sections: list[str], task: Task,
            context: Context, limits: Limits, with_error: bool, reply: ReplyFormat,
            other: Parent | None = None) -> Prompt:
    draft = _draft(persona, parent, context, limits, with_error)

    def build() -> str:
        return _assemble(persona, draft.persona_text, operator, file_sections, task, parent, context,
                         draft.changes, draft.shed["changes"], draft.tail, limits, draft.cuts, draft.attempts,
                         draft.shed["attempts"], reply)

    text = _fit(draft, build, persona, limits)
    request = _request(operator, persona, parent, other, task, limits, draft.tail, draft.attempts, reply)
    return Prompt(text, operator, persona.name, tuple(draft.cuts), request)


def reply_format(rng: random.Random, edit_probability: float) -> ReplyFormat:
    """The format one proposal's prompt asks for (`[llm] reply_format`'s `LLM.edit_probability()`), drawn from
    the proposal's own generator only when it is mixed: a campaign that asks one format draws as before."""
    if edit_probability in (0.0, 1.0):
        return EDITS if edit_probability else FULL
    return EDITS if rng.random() < edit_probability else FULL


def mutate(persona: Persona, parent: Parent, task: Task, context: Context = NO_CONTEXT,
           limits: Limits = DEFAULT_LIMITS, reply: ReplyFormat = FULL) -> Prompt:
    """Ask for an improved version of one parent."""
    return _render(MUTATE, persona, parent, [_files(PARENT_HEADING, parent, task)], task, context, limits,
                   with_error=False, reply=reply)


def crossover(persona: Persona, a: Parent, b: Parent, task: Task, context: Context = NO_CONTEXT,
              limits: Limits = DEFAULT_LIMITS, reply: ReplyFormat = FULL) -> Prompt:
    """Ask for one program combining two parents' ideas. Files of B identical to A are not repeated."""
    sections = [_files(PARENT_A_HEADING, a, task), _files(PARENT_B_HEADING, b, task, same_as=a)]
    return _render(CROSSOVER, persona, a, sections, task, context, limits, with_error=False, reply=reply, other=b)


def repair(persona: Persona, failed: Parent, task: Task, context: Context = NO_CONTEXT,
           limits: Limits = DEFAULT_LIMITS, reply: ReplyFormat = FULL) -> Prompt:
    """Ask for a fix of a parent that failed; its status, reason and error tail are shown."""
    return _render(REPAIR, persona, failed, [_files(PARENT_HEADING, failed, task)], task, context, limits,
                   with_error=True, reply=reply)
