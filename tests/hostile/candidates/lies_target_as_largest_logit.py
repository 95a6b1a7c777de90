"""In the final evaluation, commits a log-sum-exp of its largest logit alone and sends every target's logit as that
largest one (a loss of zero), then answers the audit honestly with the rows it committed to: the audited
rows' own log-sum-exp is not the one committed."""
EXPECT, REASON = "integrity_violation", "log-sum-exp committed"
EDITS = [("model.py", "@dataclass\nclass GPTConfig:", '''import sys as _sys


def _lie():
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
            cells = arrays[0].astype(np.int64)
            wire.send(sock, "rows", (host[cells[:, 0], cells[:, 1]],))

    L.answer = answer
    L._lying = True


_lie()


@dataclass
class GPTConfig:''')]
