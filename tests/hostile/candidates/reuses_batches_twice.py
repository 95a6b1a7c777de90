"""Legitimate: takes two optimizer steps on every training batch (same tokens, no extra data)."""
EXPECT, REASON = "ok", ""
EDITS = [("train_mps.py", """        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
""", """        for _ in range(2):
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
""")]
