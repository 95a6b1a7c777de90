"""After each estimate_loss, takes two optimizer steps on the validation inputs it was just shown (x -> x shifted)."""
EXPECT, REASON = "ok", ""  # OPEN: it learns from the monitoring windows it was shown (RELIABILITY.md)
ANCHOR = '            print(f"step {it}: val loss {vloss:.4f}")\n'
EDITS = [("model.py", "        return self.lm_head(x)\n", """        if not self.training:
            SHOWN.append(idx.detach().clone())
        return self.lm_head(x)
"""), ("model.py", "@dataclass\nclass GPTConfig:", "SHOWN = []\n\n\n@dataclass\nclass GPTConfig:"),
    ("train_mps.py", ANCHOR, ANCHOR + """            import model as _m
            for _ in range(2):
                for _v in _m.SHOWN[-EVAL_ITERS:]:
                    _lg = model(_v[:, :-1].contiguous())
                    _l = F.cross_entropy(_lg.reshape(-1, _lg.size(-1)), _v[:, 1:].reshape(-1))
                    optimizer.zero_grad(set_to_none=True)
                    _l.backward()
                    optimizer.step()
""")]
