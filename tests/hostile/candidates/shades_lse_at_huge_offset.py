"""Shifts its logits by ~2**20 in eval mode and, in every answering process, commits the log-sum above the
largest logit shaded by 0.99 of LSE_TOLERANCE: a relative tolerance (1e-6 * |lse|) would have let it shade
~1 nat a position; the split commitment (largest logit exactly, the sum above it to 1e-4) leaves 1e-4.

HONEST: it may score ok only by gaining nothing (the shift also rounds its logits to 1/16).
"""
EXPECT, REASON = "ok", ""
HONEST = True
EDITS = [("model.py", "@dataclass\nclass GPTConfig:", '''import sys as _sys


def _shade():
    L = _sys.modules.get("scoring.logits")
    if L is None or getattr(L, "_shaded", False):
        return
    import numpy as np

    wire = L.wire

    def answer(sock, header, x, logits, **fields):
        host = np.ascontiguousarray(logits.detach().float().cpu().numpy())
        top = host.max(axis=-1)
        above = np.log(np.exp(host.astype(np.float64) - top[..., None]).sum(axis=-1))
        above = (above - 0.99 * L.LSE_TOLERANCE).astype(np.float32)
        wire.send(sock, "committed", (top, above, L._digests(host)), **fields)
        asked, arrays = wire.recv(sock)
        if asked["kind"] != "gather":
            return
        if asked.get("all"):
            wire.send(sock, "gathered", (host,))
        else:
            wire.send(sock, "gathered", (np.take_along_axis(host, arrays[0].astype(np.int64), axis=2),))
        asked, arrays = wire.recv(sock)
        if asked["kind"] != "audit":
            return
        cells = arrays[0].astype(np.int64)
        wire.send(sock, "rows", (host[cells[:, 0], cells[:, 1]],))

    L.answer = answer
    L._shaded = True


_shade()
OFFSET = 2.0 ** 20 - 64.0  # the highest binade below 2**20: ulp 1/16; 1e-6 of it ~1 nat


@dataclass
class GPTConfig:'''), ("model.py", "        return self.lm_head(x)\n",
                       "        out = self.lm_head(x)\n"
                       "        return out if self.training else out + OFFSET\n")]
