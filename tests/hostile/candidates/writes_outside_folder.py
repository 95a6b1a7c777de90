"""Writes a file into the campaign folder, next to its run folder."""
EXPECT, REASON = "crashed", "Read-only file system"
NEEDS_NAMESPACES = True
EDITS = [("train_mps.py", "@start", """
with open(os.path.join(os.path.abspath(".."), "escaped-@MARKER@.txt"), "w") as f:
    f.write("out")
""")]
