"""The loopback LLM both frameworks talk to in the side-by-side benchmarks.

It is evolve.operators.server's OpenAI-compatible endpoint (real HTTP, fixed added latency) with one
addition: it also reads OpenEvolve's full-rewrite prompts. A persona-evolve prompt is answered by the
offline operator as usual; an OpenEvolve prompt has its "# Current Program" block mutated by the same
offline operator (`mutate_files`: the same catalog edits and numeric perturbation, no persona weighting)
and answered with the whole new program in one ```python block, which is what the peer parses when
`diff_based_evolution: false`.

`hang_at=k` makes the k-th answer that carries code a candidate whose `train()` never returns (the
hung-candidate benchmark). Runs in our venv; the peer reaches it over HTTP only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from evolve.operators.offline.operator import mutate_files  # noqa: E402
from evolve.operators.server import LoopbackHTTPServer, LoopbackServer  # noqa: E402
from scoring.task import Task  # noqa: E402

HANG = "    while True:  # benchmark: this candidate never returns\n        time.sleep(1)\n"
_CURRENT = re.compile(r"^# Current Program\n```[a-z]*\n(.*?)\n```", re.S | re.M)


def with_hang(code: str) -> str:
    """`code` whose train() sleeps forever before doing anything."""
    return code.replace("def train():\n", "def train():\n" + HANG, 1)


def peer_program(prompt: str) -> str | None:
    """The program OpenEvolve asks to rewrite: the block under its last '# Current Program' heading."""
    found = _CURRENT.findall(prompt)
    return found[-1] if found else None


class BenchHTTPServer(LoopbackHTTPServer):
    def __init__(self, address: tuple[str, int], latency_s: float, task: Task, hang_at: int | None = None):
        super().__init__(address, latency_s)
        self.task, self.hang_at = task, hang_at
        self.code_replies = 0

    def answer(self, prompt: str, seed: int) -> str:
        program = peer_program(prompt) if "# This request" not in prompt else None
        if program is None:
            reply = super().answer(prompt, seed)
            if "def train():\n" in reply and self._hang_now():
                reply = with_hang(reply)  # the reply's one full train_mps.py block
            return reply
        f = self.task.frozen
        out = mutate_files({self.task.entry_file: program + "\n"}, frozen_names=f.names, frozen_file=f.file,
                           end_marker=f.end_marker, seed=seed, key=prompt)
        if out is None:
            return "I found no change to make to this program.\n"
        files, summary = out
        code = files[self.task.entry_file]
        if self._hang_now():
            code = with_hang(code)
        return f"{summary}\n\n```python\n{code.rstrip()}\n```\n"

    def _hang_now(self) -> bool:
        with self._lock:
            self.code_replies += 1
            return self.hang_at is not None and self.code_replies == self.hang_at


class BenchServer(LoopbackServer):
    """`with BenchServer(task, latency_s=...) as s:` then point either framework at `s.url`."""

    def __init__(self, task: Task, latency_s: float = 0.0, hang_at: int | None = None):
        self.httpd = BenchHTTPServer(("127.0.0.1", 0), latency_s, task, hang_at)
        self._thread = None
