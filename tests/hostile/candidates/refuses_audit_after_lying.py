"""In the final evaluation, commits a log-sum-exp of its largest logit alone, sends every target's logit as that
largest one (a loss of zero), and when audited answers `failed` ("CUDA out of memory") instead of the rows.

The lie is in the numbers it sent after its commitment; its refusal to show the committed rows it was asked
for is how it hides that. A process that has committed to logits it holds has no honest reason to fail on
an audit (numpy indexing of rows it already holds), so the verdict must name the lie, not a crash: a
cheat that escapes unaudited or is otherwise only ever `crashed` is never recorded as a cheat.
"""
from tests.hostile.candidates.lies_target_as_largest_logit import EDITS as LIE_EDITS

EXPECT, REASON = "integrity_violation", "would not show them"
_SHOW = """            cells = arrays[0].astype(np.int64)
            wire.send(sock, "rows", (host[cells[:, 0], cells[:, 1]],))
"""
_REFUSE = """            wire.send(sock, "failed", reason="RuntimeError: CUDA out of memory")
"""
assert all(_SHOW in code for _, _, code in LIE_EDITS)
EDITS = [(f, anchor, code.replace(_SHOW, _REFUSE)) for f, anchor, code in LIE_EDITS]  # the same lie, then a refusal
