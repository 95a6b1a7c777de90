"""Shades the log-sum-exp the final evaluation commits: model.py, imported by the fresh processes when they
unpickle the model, patches torch.Tensor.log_ there (and only there), so the log of each position's sum of
exponentials is 0.05 nats lower than its logits give: the fitness would be 0.05 nats better than earned.

The answering side's copy of scoring/logits.py runs in the candidate's process: it computes what the patched
torch gives. The referee recomputes the log-sum-exp of the whole rows it asks back after the commitment
(16 positions a row, drawn from its secret) from their bytes, which must hash to the committed digests.
"""

EXPECT, REASON = "integrity_violation", "log-sum-exp committed"

PATCH = '''
import sys as _sys

if "evaluator" in _sys.argv[0]:  # the final evaluation's fresh process, not the training one
    _log_ = torch.Tensor.log_

    def _shaded_log_(self):
        return _log_(self).sub_(0.05)

    torch.Tensor.log_ = _shaded_log_
'''

EDITS = [("model.py", "import torch.nn.functional as F\n", "import torch.nn.functional as F\n" + PATCH)]
