"""Each persona end to end: render -> litellm over HTTP to the loopback server -> parse -> screen ->
score with --smoke. The prompt is sent through litellm.completion itself, as issue 4 asks, with the
structured request beside it as the LLM client sends it to the loopback server."""

from __future__ import annotations

import pytest

from evolve.operators.context import Change, Context, Parent
from evolve.operators.llm import litellm_module
from evolve.operators.prompts import mutate
from evolve.operators.server import REQUEST_FIELD
from evolve.screen import screen

PERSONAS = ["newton", "galileo", "euler", "archimedes", "von_neumann"]


@pytest.mark.slow
@pytest.mark.parametrize("name", PERSONAS)
def test_persona_round_trip_scores_ok(task, personas, loopback, name):
    from scoring.api import score

    persona = next(p for p in personas if p.name == name)
    ctx = Context(island_best=2.36, recent=(Change("[rope] rotary positions", -0.03, "euler", "mutate"),))
    prompt = mutate(persona, Parent(dict(task.seed_files), 2.3585, "seed"), task, ctx)
    response = litellm_module().completion(
        model="openai/offline", api_base=loopback.url, api_key="dummy",
        messages=[{"role": "user", "content": prompt.text}], max_retries=0,
        extra_body={REQUEST_FIELD: prompt.request.to_wire()},
    )
    reply = response.choices[0].message.content
    assert response.usage.prompt_tokens > 1000
    screened = screen(task, task.seed_files, reply)
    assert screened.accepted, f"{screened.kind}: {screened.reason}"
    assert screened.summary.startswith(f"{name}: [")
    result = score(dict(screened.files), task, smoke=True)
    assert result.status == "ok", f"{screened.summary}: {result.reason}\n{result.log_tail}"
