"""Legitimate: SGD with Nesterov momentum instead of AdamW."""
EXPECT, REASON = "ok", ""
EDITS = [("train_mps.py", """    optimizer = torch.optim.AdamW(
        model.parameters(), lr=LEARNING_RATE, betas=(BETA1, BETA2), weight_decay=WEIGHT_DECAY
    )""", """    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)"""),
    ("train_mps.py", 'group["lr"] = get_lr(it)', 'group["lr"] = 0.05')]
