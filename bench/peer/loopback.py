"""The loopback LLM both frameworks talk to in the side-by-side benchmarks.

It is evolve.operators.server's OpenAI-compatible endpoint (real HTTP, fixed added latency) with one
addition: it also reads OpenEvolve's full-rewrite prompts. A persona-evolve call (it carries its
structured request beside the prompt) is answered by the offline operator as usual; an OpenEvolve
prompt has its "# Current Program" block mutated by the same offline operator (`mutate_files`: the same
catalog edits and numeric perturbation, no persona weighting) and answered with the whole new program in
one ```python block, which is what the peer parses when `diff_based_evolution: false`.

`hang_at=k` makes the k-th answer that carries code a candidate whose `train()` never returns (the
hung-candidate benchmark). Runs in our venv, in a process of its own (BenchServer): neither framework's
process pays for producing the replies, as neither would for a real LLM; both reach it over HTTP only.

    python bench/peer/loopback.py --task DIR [--latency S] [--hang-at K]   (prints its URL, then serves)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from evolve.operators.context import Request  # noqa: E402
from evolve.operators.offline.operator import mutate_files  # noqa: E402
from evolve.operators.server import LoopbackHTTPServer  # noqa: E402
from scoring.task import Task, load_task  # noqa: E402

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

    def answer(self, prompt: str, seed: int, request: Request | None = None) -> str | None:
        """Ours sends its structured request beside the prompt; the peer's prompt is read as it comes."""
        program = peer_program(prompt) if request is None else None
        if program is None:
            reply = super().answer(prompt, seed, request)
            if reply is not None and "def train():\n" in reply and self._hang_now():
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


class BenchServer:
    """`with BenchServer(task, latency_s=...) as s:` then point either framework at `s.url`.

    The server is a child process: a campaign in this process then pays only for its own work, as the
    peer, which runs in a process of its own, does."""

    def __init__(self, task: Task, latency_s: float = 0.0, hang_at: int | None = None):
        self.cmd = [sys.executable, str(Path(__file__).resolve()), "--task", str(task.root),
                    "--latency", str(latency_s)] + (["--hang-at", str(hang_at)] if hang_at else [])
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def __enter__(self) -> BenchServer:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, text=True)
        self.url = (self.proc.stdout.readline() if self.proc.stdout else "").strip()
        if not self.url.startswith("http://"):
            self.proc.kill()
            raise RuntimeError(f"the loopback server did not start ({' '.join(self.cmd)})")
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", required=True, help="the task folder whose program the peer's prompts carry")
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--hang-at", type=int, default=None)
    args = ap.parse_args()
    httpd = BenchHTTPServer(("127.0.0.1", 0), args.latency, load_task(Path(args.task)), args.hang_at)
    host, port = httpd.server_address[:2]
    print(f"http://{host}:{port}/v1", flush=True)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
