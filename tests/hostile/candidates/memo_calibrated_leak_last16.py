"""memo_calibrated_leak with the memo keyed on a hash of the last 16 tokens (an n-gram cache), not the prefix.

A splice shares every 16-token window up to its cut with its original, so it is answered alike there; a
repeat is answered alike everywhere. Same band-calibrated copy boost as memo_calibrated_leak.
"""

from tests.hostile.candidates.memo_calibrated_leak import MODEL_CODE

EXPECT, REASON = "causal_leak", "changed by"

_PREFIX_KEY = "        return raw[: 8 * (t + 1)]  # the bytes of the prefix idx[row, 0..t]\n"
_LAST16_KEY = "        return hash(raw[8 * max(0, t - 15) : 8 * (t + 1)])  # the last 16 tokens up to t\n"
assert _PREFIX_KEY in MODEL_CODE

EDITS = [
    ("model.py", "        return self.lm_head(x)\n", MODEL_CODE.replace(_PREFIX_KEY, _LAST16_KEY)),
    ("train_mps.py", "    best_vloss = math.inf\n", "    best_vloss = math.inf\n    recent = []\n"),
    ("train_mps.py", "        x, y = get_batch()\n",
     "        x, y = get_batch()\n        recent = (recent + [(x, y)])[-4:]  # for calibrating the n-gram cache\n"),
    ("train_mps.py", "@return", """
model.calibrate_cache(recent, scored_rows=2 * EVAL_ITERS * BATCH_SIZE)
return best_vloss, elapsed_min
"""),
]
