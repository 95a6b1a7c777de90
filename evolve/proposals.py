"""The proposal half of the campaign: choose a parent, operator, persona and model, render the prompt, ask
the LLM in a proposer thread, screen the reply, record the outcome.

The campaign loop (evolve/campaign.py) decides when to propose; the Proposer decides what, and owns the
progress guard (evolve/progress.py): its backoff (`ready()`) and why proposals must stop (`verdict()`).
Every reply becomes a row: a pending candidate, a rejected one with its reason, or a failed LLM call; a
prompt that could not be built becomes a `proposal_skipped` event.

Randomness: every choice for proposal n uses `random.Random(f"{campaign seed}:{n}")`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from evolve import islands as isl
from evolve import lineage
from evolve.config import CampaignConfig, ModelChoice
from evolve.kinds import EventKind, Operator
from evolve.ledger import Ledger
from evolve.lineage import PENDING, Candidate
from evolve.operators import prompts
from evolve.operators.context import Context, Limits, Parent
from evolve.operators.llm import LLMClient
from evolve.operators.personas import Persona
from evolve.pacing import Latency
from evolve.progress import Cause, ProgressGuard, cause_of
from evolve.screen import screen
from scoring.result import REJECTED
from scoring.task import Task


@dataclass(frozen=True)
class Proposal:
    event_no: int
    island: int
    operator: str
    persona: str
    model: str
    parent_id: int
    parent2_id: int | None
    parent_files: dict[str, str]
    prompt_hash: str
    chosen_after: int  # the campaign's finished evaluations when the parent was chosen (for its staleness)
    started: float  # monotonic time the call was sent


class Proposer:
    def __init__(self, *, ledger: Ledger, config: CampaignConfig, task: Task, personas: tuple[Persona, ...],
                 llm: LLMClient, files: Callable[[int], dict[str, str]], note: Callable[[str], None]):
        self.ledger, self.pop = ledger, ledger.pop  # the view is read here; changes go through the ledger
        self.cfg, self.task, self.llm = config, task, llm
        self.files, self.note = files, note
        self.personas = {p.name: p for p in personas}
        self.schools = isl.island_personas([p.name for p in personas], config.islands.count,
                                           config.islands.personas)
        self.limits = Limits(max_chars=config.llm.max_prompt_chars)
        self.guard = ProgressGuard(config.llm.max_fruitless, config.llm.fruitless_backoff_s)
        self.next_at = 0.0  # monotonic time before which no proposal starts: the guard's backoff
        self.blocked: str | None = None  # a starting program's prompt cannot be built: nothing to propose
        self.in_flight: dict[Future, Proposal] = {}
        self.latency = Latency()
        self._weights = {m.name: m.weight for m in config.models}
        # `concurrency` live calls, and as many again beside calls that stalled (evolve/pacing.py)
        self._pool = ThreadPoolExecutor(max_workers=2 * config.llm.concurrency, thread_name_prefix="proposer")

    def ready(self) -> bool:
        return time.monotonic() >= self.next_at

    def verdict(self) -> str | None:
        """Why proposals must stop now (a prompt that cannot be built, or the guard's bound), or None."""
        return self.blocked or self.guard.verdict()

    def expected_latency(self) -> float | None:
        return self.latency.expected(self._weights)

    def live(self) -> int:
        """Calls in flight that are not stalled: those the campaign counts on for its next jobs."""
        now = time.monotonic()
        return sum(now - p.started < self.latency.stall_after(p.model) for p in self.in_flight.values())

    def may_start(self) -> bool:
        """Below the live-call limit, and below twice it with stalled calls counted."""
        limit = self.cfg.llm.concurrency
        return self.ready() and self.live() < limit and len(self.in_flight) < 2 * limit

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def start(self, starting: Callable[[int | None], list[Candidate]]) -> bool:
        """Plan the next proposal and send it to a proposer thread; False when there was nothing to send."""
        event_no = self.ledger.next_event_no()
        planned = self._plan(event_no, starting)
        if planned is None:
            return False
        proposal, prompt, spec = planned
        call_seed = self.cfg.seed * 1_000_003 + proposal.event_no
        self.in_flight[self._pool.submit(self._propose, prompt, spec, call_seed, proposal.parent_files)] = proposal
        return True

    def _plan(self, event_no: int, starting: Callable[[int | None], list[Candidate]]):
        cfg = self.cfg
        rng = random.Random(f"{cfg.seed}:{event_no}")
        island = event_no % cfg.islands.count
        pool = self.pop.individuals(island)
        if not any(p.fitness is not None for p in pool) and not starting(island):
            island = next((i for i in range(cfg.islands.count) if any(p.fitness is not None
                                                                     for p in self.pop.individuals(i))), island)
            pool = self.pop.individuals(island)
        failed = self.pop.failed(island)[-5:]
        scored = [p for p in pool if p.fitness is not None]
        operator = isl.choose_operator(rng, cfg.operators, len(scored) >= 2, bool(failed))
        persona = isl.choose_persona(rng, self.schools[island], self.pop.persona_record(),
                                     cfg.persona_choice.method, cfg.persona_choice.exploration)
        spec = self.llm.pick(rng.random())
        best = self.pop.best(island)
        p2 = None
        if operator == Operator.REPAIR:
            p1 = self.pop.cands[rng.choice(failed).id]
        else:
            first = isl.select_parent(rng, pool, cfg.selection, pareto=self.pop.pareto)
            if first is None:  # nothing scored here yet: a child of the island's starting program
                programs = starting(island) or starting(None)
                if not programs:
                    return None
                first = isl.Individual(programs[0].id, None)
            p1 = self.pop.cands[first.id]
            if operator == Operator.CROSSOVER:
                # from another line of descent where there is one: crossover then combines their improvements
                second = (isl.select_parent(rng, pool, cfg.selection, exclude=self.pop.line(first.id),
                                            pareto=self.pop.pareto)
                          or isl.select_parent(rng, pool, cfg.selection, exclude={first.id}, pareto=self.pop.pareto))
                p2 = self.pop.cands[second.id] if second else None
                operator = Operator.CROSSOVER if p2 else Operator.MUTATE
        context = Context(island_best=best.fitness if best else None,
                          recent=self.pop.recent_changes(island, self.limits.max_changes),
                          attempts=self.pop.attempts(p1.id))
        a = self._parent(p1)
        try:
            if operator == Operator.REPAIR:
                prompt = prompts.repair(self.personas[persona], a, self.task, context, self.limits)
            elif operator == Operator.CROSSOVER:
                prompt = prompts.crossover(self.personas[persona], a, self._parent(p2), self.task, context,
                                           self.limits)
            else:
                prompt = prompts.mutate(self.personas[persona], a, self.task, context, self.limits)
        except prompts.PromptTooLong as e:
            self._prompt_too_long(event_no, operator, p1, p2, str(e))
            return None
        proposal = Proposal(event_no, island, operator, persona, spec.name, p1.id, p2.id if p2 else None,
                            dict(a.files), prompt.hash, self.pop.evals_done, time.monotonic())
        return proposal, prompt, spec

    def _prompt_too_long(self, event_no: int, operator: str, p1: Candidate, p2: Candidate | None,
                         why: str) -> None:
        """Recorded and counted by the guard. From a starting program alone it can only recur: stop now."""
        self.ledger.event(EventKind.PROPOSAL_SKIPPED, {
            "event_no": event_no, "operator": operator, "parent": p1.id, "parent2": p2.id if p2 else None,
            "cause": Cause.PROMPT_TOO_LONG.value, "reason": why})
        self._fruitless(Cause.PROMPT_TOO_LONG)
        self.note(f"event {event_no}: prompt too long, skipped ({why})")
        if p2 is None and p1.id in self.pop.seed_ids:
            self.blocked = (f"the prompt for starting program #{p1.id} cannot be built: {why} (raise "
                            "llm.max_prompt_chars, or make the task's editable files shorter)")

    def _fruitless(self, cause: Cause, detail: str = "") -> None:
        self.guard.fruitless(cause, detail)
        self.next_at = time.monotonic() + self.guard.wait_s()

    def _parent(self, c: Candidate) -> Parent:
        return Parent(files=self.files(c.id), fitness=self.pop.standing(c.id), label=str(c.id), change=c.summary,
                      status=c.status, reason=c.reason, error_tail=self.pop.tails.get(c.id, ""))

    def _propose(self, prompt: prompts.Prompt, spec: ModelChoice, seed: int, parent_files: dict[str, str]):
        """In a proposer thread: ask the LLM, then screen the reply (pure work, no database)."""
        rec = self.llm.complete(prompt.text, spec, seed=seed, request=prompt.request)
        return rec, (screen(self.task, parent_files, rec.reply) if rec.ok else None)

    def record(self, fut: Future) -> None:
        """A proposer thread finished: its LLM call and what came of it, in one transaction."""
        p = self.in_flight.pop(fut)
        rec, s = fut.result()
        self.latency.add(p.model, rec.latency_s)
        call = dict(model=rec.model, prompt_hash=rec.prompt_hash, tokens_in=rec.tokens_in or 0,
                    tokens_out=rec.tokens_out or 0, cost_usd=rec.cost_usd or 0.0, latency_s=rec.latency_s,
                    reply=rec.reply, error=rec.error)
        if not rec.ok:
            self.ledger.failed_call(call, p.persona, p.operator)
            self._fruitless(Cause.LLM_ERROR, rec.error or "")
            self.note(f"LLM call failed ({p.model}): {rec.error[:80]}")
            return
        original = self.pop.hashes.get(s.code_hash) if s.accepted else None
        status = s.status or (REJECTED if original is not None else PENDING)
        reason = (f"{s.kind}: {s.reason}" if s.status else lineage.duplicate_reason(original)
                  if original is not None else "")
        queued = status == PENDING
        best = self.pop.best(p.island) if queued and not self.pop.pareto else None
        c = self.ledger.proposal(call, dict(
            island=p.island, files=dict(s.files) if queued else {}, operator=p.operator, persona=p.persona,
            model=p.model, parent_id=p.parent_id, parent2_id=p.parent2_id, status=status, reason=reason,
            code_hash=s.code_hash if queued else None, event_no=p.event_no, summary=s.summary,
            prune_reference=best.id if best else None, chosen_after=p.chosen_after))
        if c.status == PENDING:
            self.guard.fruitful()
        else:  # screened out, or a duplicate (seen here, or caught by the database)
            self._fruitless(cause_of(s.kind) if s.status else Cause.DUPLICATE)
            self.note(f"#{c.id} {p.persona}/{p.operator}: {c.reason[:70]}")
