"""The offline operator: every catalog edit is real (guard-clean, causal, scores ok under --smoke),
edits compose, and mutate / crossover / repair answer in the LLM reply format, deterministically."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from evolve.kinds import Operator
from evolve.operators.context import Parent, Request
from evolve.operators.offline.catalog import CATALOG, by_name
from evolve.operators.offline.operator import respond
from evolve.operators.offline.perturb import find_sites, perturb
from evolve.operators.prompts import crossover, mutate, repair
from evolve.operators.reply import parse_reply
from scoring.guard import check
from scoring.task import load_task

EDITS = [e.name for e in CATALOG]


def _frozen(task):
    return task.frozen.names, task.frozen.file, task.frozen.end_marker


def _with(task, *names):
    files = dict(task.seed_files)
    for name in names:
        files = by_name(name).apply(files)
        assert files is not None, name
    return files


@pytest.mark.parametrize("name", EDITS)
def test_edit_applies_to_the_seed_passes_the_guard_and_reverts(task, name):
    e = by_name(name)
    files = e.apply(task.seed_files)
    assert files is not None and files != dict(task.seed_files)
    assert check(task, files) == []
    assert e.applied(files) and e.apply(files) is None  # knows it is already applied
    assert e.revert(files) == dict(task.seed_files)


def test_edits_compose_in_either_order_and_stay_revertible(task):
    exclusive = {frozenset({"relu2", "swiglu"}), frozenset({"warmup_cosine", "warmup_stable_decay"})}
    for a, b in itertools.permutations(CATALOG, 2):
        first = a.apply(task.seed_files)
        both = b.apply(first)
        if frozenset({a.name, b.name}) in exclusive:
            assert both is None
            continue
        assert both is not None, (a.name, b.name)
        assert check(task, both) == [], (a.name, b.name)
        assert a.applied(both) and b.applied(both)
        assert b.revert(both) == first, (a.name, b.name)
        assert a.revert(both) is not None, (a.name, b.name)


def test_perturb_never_touches_frozen_names_or_the_frozen_block(task):
    sites = find_sites(task.seed_files, *_frozen(task))
    labels = {s.label for s in sites}
    assert {"N_LAYER", "LEARNING_RATE", "BETA2"} <= labels
    assert not labels & set(task.frozen.names)
    for seed in range(40):
        files, summary = perturb(task.seed_files, *_frozen(task), random.Random(seed))
        assert check(task, files) == [], summary
        assert files != dict(task.seed_files)


def _reply(prompt, seed=0):
    return respond(prompt.text, prompt.request, seed)


def test_mutate_is_deterministic_prefers_persona_tags_and_varies_with_seed(task, personas):
    parent = Parent(dict(task.seed_files), 2.45, "c1")
    newton, euler = personas[0], personas[2]
    assert _reply(mutate(newton, parent, task), 3) == _reply(mutate(newton, parent, task), 3)
    picks = {name: [parse_reply(_reply(mutate(p, parent, task), s), task.seed_files).summary for s in range(30)]
             for name, p in (("newton", newton), ("euler", euler))}
    assert len(set(picks["newton"])) > 3  # the seed matters
    opt = ("[muon]", "[warmup_cosine]", "[adamw_betas]", "[warmup_stable_decay]", "[grad_clip]")
    pos = ("[rope]", "[relu2]", "[swiglu]", "[rmsnorm]", "[qk_norm]")
    count = lambda xs, keys: sum(any(k in x for k in keys) for x in xs)  # noqa: E731
    assert count(picks["newton"], opt) > count(picks["euler"], opt)
    assert count(picks["euler"], pos) > count(picks["newton"], pos)


def test_mutate_weighs_edits_by_the_catalogs_expert_priors(task, personas, monkeypatch):
    from evolve.operators.offline import operator

    parent = Parent(dict(task.seed_files), 2.45, "c1")
    archimedes = personas[3]  # initialization, stability, normalization: no tag of muon's

    def muon_picks() -> int:
        replies = [_reply(mutate(archimedes, parent, task), s) for s in range(120)]
        return sum("[muon]" in parse_reply(r, task.seed_files).summary for r in replies)

    with_priors = muon_picks()
    monkeypatch.setattr(operator, "PRIORS", {})
    assert with_priors > 2 * max(1, muon_picks())


def test_mutate_picks_only_unapplied_edits_and_replies_in_llm_format(task, personas):
    files = _with(task, *[e.name for e in CATALOG if e.name not in ("swiglu", "warmup_stable_decay", "rope")])
    seen = set()
    for seed in range(20):
        reply = _reply(mutate(personas[2], Parent(files, 2.3, "c"), task), seed)
        got = parse_reply(reply, files)
        assert got.ok, got.reason
        seen.add(got.summary.split("]")[0])
        assert check(task, dict(got.files)) == []
    assert seen <= {"euler: [rope", "euler: [perturb"}


def test_crossover_merges_the_edits_of_both_parents(task, personas):
    a = _with(task, "rmsnorm", "warmup_cosine")
    b = _with(task, "muon", "rope")
    reply = _reply(crossover(personas[4], Parent(a, 2.3, "a"), Parent(b, 2.31, "b"), task))
    got = parse_reply(reply, a)
    assert got.ok and "[crossover]" in got.summary
    for name in ("rmsnorm", "warmup_cosine", "muon", "rope"):
        assert by_name(name).applied(got.files), name
    assert check(task, dict(got.files)) == []


def test_crossover_with_nothing_new_mutates_parent_a(task, personas):
    a = _with(task, "rmsnorm")
    got = parse_reply(_reply(crossover(personas[0], Parent(a, 2.3, "a"), Parent(a, 2.3, "b"), task)), a)
    assert got.ok and "parent B brought nothing new" in got.summary


def test_repair_undoes_the_named_last_change(task, personas):
    files = _with(task, "rope", "muon")
    failed = Parent(files, None, "c3", change="newton: [muon] Muon ...", status="crashed", reason="boom",
                    error_tail="RuntimeError")
    got = parse_reply(_reply(repair(personas[0], failed, task)), files)
    assert got.ok and "undo [muon]" in got.summary
    assert not by_name("muon").applied(got.files) and by_name("rope").applied(got.files)


def test_repair_undoes_a_perturbation_and_says_when_it_has_no_fix(task, personas):
    files = dict(task.seed_files)
    files["train_mps.py"] = files["train_mps.py"].replace("LEARNING_RATE = 1e-3", "LEARNING_RATE = 0.5")
    failed = Parent(files, None, "c4", change="galileo: [perturb] LEARNING_RATE 0.001 -> 0.5", status="invalid_result")
    got = parse_reply(_reply(repair(personas[1], failed, task)), files)
    assert got.ok and got.files["train_mps.py"] == task.seed_files["train_mps.py"].replace("1e-3", "0.001")
    nothing = Parent(dict(task.seed_files), None, "c5", status="crashed", reason="?")
    assert parse_reply(_reply(repair(personas[1], nothing, task)), task.seed_files).rejection == "unparseable"


def test_the_request_read_from_its_wire_form_gets_the_same_answer(task, personas):
    """What the loopback server answers (a Request decoded from JSON) is what the operator answers in process."""
    files = _with(task, "rope", "muon")
    failed = Parent(files, None, "c3", change="newton: [muon] Muon ...", status="timeout", reason="slow")
    a, b = Parent(_with(task, "rmsnorm"), 2.3, "a"), Parent(_with(task, "muon"), 2.31, "b")
    for prompt in (mutate(personas[0], a, task), crossover(personas[4], a, b, task), repair(personas[1], failed, task)):
        wired = Request.from_wire(json.loads(json.dumps(prompt.request.to_wire())))
        assert wired == prompt.request and type(wired.operator) is Operator
        assert respond(prompt.text, wired, 7) == respond(prompt.text, prompt.request, 7)


@pytest.mark.slow
@pytest.mark.parametrize("name", EDITS + ["perturb"])
def test_edit_scores_ok_under_smoke(task, name):
    from scoring.api import score

    if name == "perturb":
        files, _ = perturb(task.seed_files, *_frozen(task), random.Random(0))
    else:
        files = by_name(name).apply(task.seed_files)
    result = score(files, task, smoke=True)
    assert result.status == "ok", f"{name}: {result.reason}\n{result.log_tail}"
    assert result.best_vloss is not None and result.best_vloss < 4.5


def test_mutate_leaves_out_the_edits_already_tried_from_the_parent(task, personas):
    from evolve.operators.context import Attempt, Context

    parent = Parent(dict(task.seed_files), 2.45, "c1")
    newton = personas[0]  # optimizer-minded: muon is its likeliest pick

    def picks(context) -> list[str]:
        return [parse_reply(_reply(mutate(newton, parent, task, context), s), task.seed_files).summary
                for s in range(40)]

    before = picks(Context())
    assert sum("[muon]" in x for x in before) >= 5
    tried = Context(attempts=(Attempt("7", "newton: [muon] Muon for the matrices", "rejected",
                                      "duplicate: the same program as candidate 4"),))
    after = picks(tried)
    assert not any("[muon]" in x for x in after) and all(x.strip() for x in after)


FOREIGN = [Path(__file__).resolve().parents[2] / "seeds" / "tasks" / "conv_words",
           Path(__file__).resolve().parents[1] / "tasks" / "gru_chars"]


@pytest.mark.parametrize("folder", FOREIGN, ids=lambda p: p.name)
def test_on_a_task_the_catalog_does_not_know_every_operator_gives_valid_children(folder, personas):
    """What a user gets offline on a task of their own: numeric perturbations of the settings outside the
    frozen block, through the same prompt and parser, each child guard-clean and different from its parent."""
    t = load_task(folder)
    parent = Parent(dict(t.seed_files), 3.0, "c1")
    children = {}
    for seed, persona in itertools.product(range(6), personas):
        got = parse_reply(_reply(mutate(persona, parent, t), seed), t.seed_files)
        assert got.ok, (got.rejection, got.summary)
        assert check(t, dict(got.files)) == [] and dict(got.files) != dict(t.seed_files), got.summary
        children[got.summary.split(": ", 1)[1]] = dict(got.files)
    assert len(children) >= 4, list(children)
    (sa, a), (sb, b) = list(children.items())[:2]
    got = parse_reply(_reply(crossover(personas[4], Parent(a, 2.9, "a"), Parent(b, 2.95, "b"), t)), a)
    assert got.ok and check(t, dict(got.files)) == [], got.summary
    perturbed = next((s, f) for s, f in children.items() if s.startswith("[perturb]"))
    failed = Parent(perturbed[1], None, "c2", change=f"newton: {perturbed[0]}", status="crashed", reason="boom")
    got = parse_reply(_reply(repair(personas[0], failed, t)), perturbed[1])
    assert got.ok and "undo the last change" in got.summary and check(t, dict(got.files)) == []
