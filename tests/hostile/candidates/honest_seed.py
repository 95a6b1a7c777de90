"""The seed unchanged: the baseline every HONEST cheat's fitness is compared with."""
EXPECT, REASON = "ok", ""
EDITS = ()
