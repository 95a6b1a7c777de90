"""In the final evaluation, commits a log-sum-exp of its largest logit alone, sends every target's logit as that
largest one (a loss of zero), and when audited answers `failed` ("CUDA out of memory") instead of the rows.

The lie is in the numbers it sent after its commitment; its refusal to show the committed rows it was asked
for is how it hides that. A process that has committed to logits it holds has no honest reason to fail on
an audit (numpy indexing of rows it already holds), so the verdict must name the lie, not a crash: a
cheat that escapes unaudited or is otherwise only ever `crashed` is never recorded as a cheat.
"""
EXPECT, REASON = "integrity_violation", "would not show them"
EDITS = [("model.py", "@dataclass\nclass GPTConfig:", '''import sys as _sys


def _lie_then_refuse():
    L = _sys.modules.get("scoring.logits")
    spec = getattr(_sys.modules["__main__"], "__spec__", None)  # the evaluator runs as `-m scoring.evaluator`
    if L is None or getattr(spec, "name", "") != "scoring.evaluator" or getattr(L, "_lying", False):
        return
    import numpy as np

    wire = L.wire

    def answer(sock, header, x, logits, **fields):
        host = np.ascontiguousarray(logits.detach().float().cpu().numpy())
        top = host.max(axis=-1)
        wire.send(sock, "committed", (top, np.zeros_like(top), L._digests(host)), **fields)
        asked, arrays = wire.recv(sock)
        if asked["kind"] != "gather":
            return
        got = np.take_along_axis(host, arrays[0].astype(np.int64), axis=2)
        got[:, :, 0] = top  # every target as likely as the largest logit: a loss of zero
        wire.send(sock, "gathered", (got,))
        asked, arrays = wire.recv(sock)
        if asked["kind"] == "audit":
            wire.send(sock, "failed", reason="RuntimeError: CUDA out of memory. Tried to allocate 2.00 MiB")

    L.answer = answer
    L._lying = True


_lie_then_refuse()


@dataclass
class GPTConfig:''')]
