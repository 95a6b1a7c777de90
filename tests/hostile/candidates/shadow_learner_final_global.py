"""shadow_learner_final with the shadow in a module-level dict, made at the first final batch (not in the model).

The same test-time training and prefix memo; the shadow and its optimizer live in `_SHADOWS`, keyed by the
served model's id, so nothing of them is an attribute of the model: only the `serving` flag, the number of
steps and the memo are.
"""

from tests.hostile.candidates.shadow_learner_final import CACHE, FORWARD

EXPECT, REASON = "causal_leak", "changed by"

_LIST_SHADOW = '''    def _shadow(self):
        return self.shadow[0], self.shadow[1]
'''
_GLOBAL_SHADOW = '''    def _shadow(self):
        if id(self) not in _SHADOWS:  # the first batch of the final evaluation: copy the model as it is now
            keep, self.memo = self.memo, {}
            self.serving = False
            shadow = copy.deepcopy(self).eval()
            self.serving, self.memo = True, keep
            opt = type(self.tt_opt)(shadow.parameters())
            opt.load_state_dict(self.tt_opt.state_dict())
            _SHADOWS[id(self)] = (shadow, opt)
        return _SHADOWS[id(self)]
'''
_LIST_START = '''        shadow = copy.deepcopy(self).eval()
        opt = type(optimizer)(shadow.parameters())
        opt.load_state_dict(optimizer.state_dict())
        self.shadow = [shadow, opt]
        self.tt_steps, self.memo, self.serving = steps, {}, True
'''
_GLOBAL_START = '''        self.tt_opt, self.tt_steps, self.memo, self.serving = optimizer, steps, {}, True
'''
assert _LIST_SHADOW in CACHE and _LIST_START in CACHE

EDITS = [
    ("model.py", "import math\n", "import copy\nimport math\n"),
    ("model.py", "@dataclass\nclass GPTConfig:",
     "_SHADOWS = {}  # served model id -> (shadow copy, its optimizer)\n\n\n@dataclass\nclass GPTConfig:"),
    ("model.py", "    def forward(self, idx):\n", FORWARD),
    ("model.py", "        return self.lm_head(x)\n", "        return self.lm_head(x)\n"
     + CACHE.replace(_LIST_SHADOW, _GLOBAL_SHADOW).replace(_LIST_START, _GLOBAL_START)),
    ("train_mps.py", "@return", """
model.start_serving(optimizer)
return best_vloss, elapsed_min
"""),
]
