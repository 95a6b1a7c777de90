"""Bidirectional mixing across the rows of a batch: each row gets the batch's mean token embedding."""
EXPECT, REASON = "causal_leak", "changed by"
ANCHOR = "        x = self.drop(self.wte(idx) + self.wpe(pos))\n"
EDITS = [("model.py", ANCHOR, ANCHOR + """
        x = x + 0.5 * self.wte(idx).mean(dim=(0, 1), keepdim=True)
        steps = torch.arange(1, T + 1, device=idx.device)[:, None]
        x = x + 0.5 * self.wte(idx.roll(-1, dims=0)).cumsum(1) / steps
""")]
