"""The proposal half of the campaign: choose a parent, operator, persona and model, render the prompt, ask
the LLM in a proposer thread, screen the reply, decide what it gives.

The campaign loop (evolve/campaign.py) decides when to propose; the Proposer decides what, and owns the
progress guard (evolve/progress.py): its backoff (`ready()`) and why proposals must stop (`verdict()`).
Every reply becomes a decision the loop writes (evolve/ledger.py): a pending candidate, a rejected one with
its reason, or a failed LLM call; a prompt that could not be built becomes a `proposal_skipped` event.

Randomness: every choice for proposal n uses `random.Random(f"{campaign seed}:{n}")`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from evolve import islands as isl
from evolve import lineage
from evolve.config import CampaignConfig, ModelChoice
from evolve.kinds import EventKind, Operator, Rejection, ReplyFormat
from evolve.ledger import Event, FailedCall, Ledger, Propose
from evolve.lineage import PENDING, Candidate
from evolve.lineage.facts import Call, NewCandidate
from evolve.operators import prompts
from evolve.operators.context import Context, Limits, Parent
from evolve.operators.llm import CallRecord, LLMClient
from evolve.operators.personas import Persona
from evolve.pacing import Latency
from evolve.progress import ProgressGuard
from evolve.screen import Screened, screen
from scoring.result import REJECTED
from scoring.task import Task


@dataclass(frozen=True)
class Proposal:
    event_no: int
    island: int
    operator: Operator
    persona: str
    model: str
    parent_id: int
    parent2_id: int | None
    parent_files: dict[str, str]
    prompt_hash: str
    chosen_after: int  # the campaign's finished evaluations when the parent was chosen (for its staleness)
    started: float  # monotonic time the call was sent


@dataclass(frozen=True)
class Planned:
    """A proposal ready to send: the campaign loop runs `Proposer.ask(planned)` in a proposer thread."""

    proposal: Proposal
    prompt: prompts.Prompt
    spec: ModelChoice
    call_seed: int


@dataclass(frozen=True)
class Parents:
    operator: Operator
    first: Candidate
    second: Candidate | None = None


class Proposer:
    def __init__(self, *, ledger: Ledger, config: CampaignConfig, task: Task, personas: tuple[Persona, ...],
                 llm: LLMClient, note: Callable[[str], None]):
        self.ledger, self.pop = ledger, ledger.pop  # read here (the view, files); the loop writes
        self.cfg, self.task, self.llm = config, task, llm
        self.note = note  # a line for the live view's log
        self.personas = {p.name: p for p in personas}
        self.schools = isl.island_personas([p.name for p in personas], config.islands.count,
                                           config.islands.personas)
        self.limits = Limits(max_chars=config.llm.max_prompt_chars)
        self.guard = ProgressGuard(config.llm.max_fruitless, config.llm.fruitless_backoff_s)
        self.next_at = 0.0  # monotonic time before which no proposal starts: the guard's backoff
        self.blocked: str | None = None  # a starting program's prompt cannot be built: nothing to propose
        self.latency = Latency()
        self._weights = {m.name: m.weight for m in config.models}

    def ready(self) -> bool:
        return time.monotonic() >= self.next_at

    def verdict(self) -> str | None:
        """Why proposals must stop now (a prompt that cannot be built, or the guard's bound), or None."""
        return self.blocked or self.guard.verdict()

    def expected_latency(self) -> float | None:
        return self.latency.expected(self._weights)

    def waited(self, in_flight: Collection[Proposal]) -> float:
        """How long the oldest call in flight has been waiting (0 with none)."""
        return max((time.monotonic() - p.started for p in in_flight), default=0.0)

    def live(self, in_flight: Collection[Proposal]) -> int:
        """Calls in flight that are not stalled: those the campaign counts on for its next jobs."""
        now = time.monotonic()
        return sum(now - p.started < self.latency.stall_after(p.model) for p in in_flight)

    def may_start(self, in_flight: Collection[Proposal]) -> bool:
        """Below the live-call limit, and below twice it with stalled calls counted."""
        limit = self.cfg.llm.concurrency
        return self.ready() and self.live(in_flight) < limit and len(in_flight) < 2 * limit

    def plan(self, event_no: int, starting: Callable[[int | None], list[Candidate]]) -> Planned | Event | None:
        """Proposal `event_no` from the population as it is now: None when there is nothing to propose from,
        the event to record when its prompt cannot be built."""
        rng = random.Random(f"{self.cfg.seed}:{event_no}")
        island = self._island(event_no, starting)
        parents = self._parents(rng, island, starting)
        if parents is None:
            return None
        persona = isl.choose_persona(rng, self.schools[island], self.pop.persona_record(),
                                     self.cfg.persona_choice.method, self.cfg.persona_choice.exploration)
        spec = self.llm.pick(rng.random())
        reply = prompts.reply_format(rng, self.cfg.llm.edit_probability())
        a = self._parent(parents.first)
        try:
            prompt = self._prompt(parents, persona, island, a, reply)
        except prompts.PromptTooLong as e:
            return self._prompt_too_long(event_no, parents, str(e))
        p2 = parents.second
        proposal = Proposal(event_no, island, parents.operator, persona, spec.name, parents.first.id,
                            p2.id if p2 else None, dict(a.files), prompt.hash, self.pop.evals_done, time.monotonic())
        return Planned(proposal, prompt, spec, self.cfg.seed * 1_000_003 + event_no)

    def _island(self, event_no: int, starting: Callable[[int | None], list[Candidate]]) -> int:
        """Islands take turns; one with nothing scored and no starting program in training lends its turn to
        the first island that has a scored program."""
        island = event_no % self.cfg.islands.count
        if any(p.fitness is not None for p in self.pop.individuals(island)) or starting(island):
            return island
        return next((i for i in range(self.cfg.islands.count)
                     if any(p.fitness is not None for p in self.pop.individuals(i))), island)

    def _parents(self, rng: random.Random, island: int,
                 starting: Callable[[int | None], list[Candidate]]) -> Parents | None:
        pool = self.pop.individuals(island)
        failed = self.pop.failed(island)[-5:]
        scored = sum(p.fitness is not None for p in pool)
        operator = isl.choose_operator(rng, self.cfg.operators, scored >= 2, bool(failed))
        if operator == Operator.REPAIR:
            return Parents(operator, self.pop.cands[rng.choice(failed).id])
        first = isl.select_parent(rng, pool, self.cfg.selection, pareto=self.pop.pareto)
        if first is None:  # nothing scored here yet: a child of the island's starting program
            programs = starting(island) or starting(None)
            if not programs:
                return None
            first = isl.Individual(programs[0].id, None)
        second = self._second(rng, pool, first.id) if operator == Operator.CROSSOVER else None
        return Parents(Operator.CROSSOVER if second else Operator.MUTATE, self.pop.cands[first.id], second)

    def _second(self, rng: random.Random, pool: list[isl.Individual], first: int) -> Candidate | None:
        """Crossover's second parent: from another line of descent where there is one, so that it combines
        their improvements; else any other member."""
        sel, pareto = self.cfg.selection, self.pop.pareto
        second = (isl.select_parent(rng, pool, sel, exclude=self.pop.line(first), pareto=pareto)
                  or isl.select_parent(rng, pool, sel, exclude={first}, pareto=pareto))
        return self.pop.cands[second.id] if second else None

    def _prompt(self, parents: Parents, persona: str, island: int, a: Parent,
                reply: ReplyFormat) -> prompts.Prompt:
        best = self.pop.best(island)
        context = Context(island_best=best.fitness if best else None,
                          recent=self.pop.recent_changes(island, self.limits.max_changes),
                          attempts=self.pop.attempts(parents.first.id))
        who = self.personas[persona]
        if parents.operator == Operator.REPAIR:
            return prompts.repair(who, a, self.task, context, self.limits, reply)
        if parents.operator == Operator.CROSSOVER:
            return prompts.crossover(who, a, self._parent(parents.second), self.task, context, self.limits, reply)
        return prompts.mutate(who, a, self.task, context, self.limits, reply)

    def _prompt_too_long(self, event_no: int, parents: Parents, why: str) -> Event:
        """Counted by the guard, and recorded. From a starting program alone it can only recur: stop now."""
        p1, p2 = parents.first, parents.second
        skipped = Event(EventKind.PROPOSAL_SKIPPED, {
            "event_no": event_no, "operator": parents.operator, "parent": p1.id, "parent2": p2.id if p2 else None,
            "cause": Rejection.PROMPT_TOO_LONG.value, "reason": why})
        self._fruitless(Rejection.PROMPT_TOO_LONG)
        self.note(f"event {event_no}: prompt too long, skipped ({why})")
        if p2 is None and p1.id in self.pop.seed_ids:
            self.blocked = (f"the prompt for starting program #{p1.id} cannot be built: {why} (raise "
                            "llm.max_prompt_chars, or make the task's editable files shorter)")
        return skipped

    def _fruitless(self, cause: Rejection, detail: str = "") -> None:
        self.guard.fruitless(cause, detail)
        self.next_at = time.monotonic() + self.guard.wait_s()

    def _parent(self, c: Candidate) -> Parent:
        return Parent(files=self.ledger.files(c.id), fitness=self.pop.standing(c.id), label=str(c.id), change=c.summary,
                      status=c.status, reason=c.reason, error_tail=self.pop.failure_tail(c.id))

    def ask(self, planned: Planned) -> tuple[CallRecord, Screened | None]:
        """In a proposer thread: ask the LLM, then screen the reply (pure work, no database)."""
        rec = self.llm.complete(planned.prompt.text, planned.spec, seed=planned.call_seed,
                                request=planned.prompt.request)
        return rec, (screen(self.task, planned.proposal.parent_files, rec.reply) if rec.ok else None)

    def decide(self, p: Proposal, outcome: tuple[CallRecord, Screened | None]) -> Propose | FailedCall:
        """A proposer thread finished: its LLM call and what came of it (one write)."""
        rec, s = outcome
        self.latency.add(p.model, rec.latency_s)
        call = Call(rec.model, rec.prompt_hash, rec.tokens_in or 0, rec.tokens_out or 0, rec.cost_usd or 0.0,
                    rec.latency_s, rec.reply, rec.error)
        if not rec.ok:
            self._fruitless(Rejection.LLM_ERROR, rec.error or "")
            self.note(f"LLM call failed ({p.model}): {rec.error[:80]}")
            return FailedCall(call, p.persona, p.operator)
        new = self._candidate(p, s)
        if new.status == PENDING:
            self.guard.fruitful()
        else:  # screened out, or a duplicate
            self._fruitless(s.kind or Rejection.DUPLICATE)
            self.note(f"event {p.event_no} {p.persona}/{p.operator}: {new.reason[:70]}")
        return Propose(call, new)

    def _candidate(self, p: Proposal, s: Screened) -> NewCandidate:
        """The candidate a screened reply makes: queued, or rejected with its reason."""
        status, reason = self._verdict(s)
        queued = status == PENDING
        best = self.pop.best(p.island) if queued and not self.pop.pareto else None
        return self.ledger.new_candidate(
            island=p.island, files=dict(s.files) if queued else {}, operator=p.operator, persona=p.persona,
            model=p.model, parent_id=p.parent_id, parent2_id=p.parent2_id, status=status, reason=reason,
            code_hash=s.code_hash if queued else None, event_no=p.event_no, summary=s.summary,
            prune_reference=best.id if best else None, chosen_after=p.chosen_after)

    def _verdict(self, s: Screened) -> tuple[str, str]:
        """(status, reason): the screen's rejection, else a duplicate of a recorded program, else pending.
        Duplicates are decided here, the one place that sees every recorded candidate (the database's
        unique hash is only a backstop)."""
        if s.status:
            return s.status, f"{s.kind}: {s.reason}"
        original = self.pop.hashes.get(s.code_hash)
        return (REJECTED, lineage.duplicate_reason(original)) if original is not None else (PENDING, "")
