"""memo_calibrated_leak with the memo keyed on a hash of the last 16 tokens (an n-gram cache), not the prefix.

A splice shares every 16-token window up to its cut with its original, so it is answered alike there; a
repeat is answered alike everywhere. Same band-calibrated copy boost as memo_calibrated_leak.
"""

from tests.hostile.candidates.memo_calibrated_leak import EDITS as PREFIX_EDITS
from tests.hostile.candidates.memo_calibrated_leak import MODEL_CODE

EXPECT, REASON = "causal_leak", "changed by"

_PREFIX_KEY = "        return raw[: 8 * (t + 1)]  # the bytes of the prefix idx[row, 0..t]\n"
_LAST16_KEY = "        return hash(raw[8 * max(0, t - 15) : 8 * (t + 1)])  # the last 16 tokens up to t\n"
assert _PREFIX_KEY in MODEL_CODE

# the same edits, the memo's key changed
EDITS = [(f, anchor, MODEL_CODE.replace(_PREFIX_KEY, _LAST16_KEY) if code == MODEL_CODE else code)
         for f, anchor, code in PREFIX_EDITS]
