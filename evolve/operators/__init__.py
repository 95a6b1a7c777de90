"""Persona operators: what the campaign loop calls to propose a candidate.

    personas.py     load_personas(dir) -> (Persona, ...)            the mutation operators' texts
    context.py      Parent, Change, Context, Limits                  plain values the campaign fills
    prompts.py      mutate / crossover / repair -> Prompt            bounded, machine-readable prompts
    llm.py          LLMClient(config.LLM, models).complete(prompt) -> CallRecord   litellm or offline
    reply.py        parse_reply(reply, parent) -> Reply              new file set or a rejection
    edits.py        SEARCH/REPLACE edits: parse, apply, make           edit replies ([llm] reply_format)
    offline/        the built-in deterministic operator (`--model offline`) and its edit catalog
    server.py       a loopback OpenAI-compatible endpoint serving the offline operator
    unhelpful.py    the loopback server's replies of a model that never helps

Screening (syntax, guard, duplicates) sits one layer up, in evolve/screen.py.
"""

from evolve.operators.context import Change, Context, Limits, Parent
from evolve.operators.llm import CallRecord, LLMClient
from evolve.operators.personas import Persona, builtin_personas_dir, load_personas
from evolve.operators.prompts import Prompt, PromptTooLong, crossover, mutate, repair
from evolve.operators.reply import Reply, parse_reply

__all__ = ["CallRecord", "Change", "Context", "LLMClient", "Limits", "Parent",
           "Persona", "Prompt", "PromptTooLong", "Reply", "builtin_personas_dir", "crossover", "load_personas",
           "mutate", "parse_reply", "repair"]
