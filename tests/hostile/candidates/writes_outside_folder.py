"""Writes a file next to its run folder and one in the source tree."""
EXPECT, REASON = "crashed", "Read-only file system"
NEEDS_NAMESPACES = True
EDITS = [("train_mps.py", "@start", """
with open(os.path.join(os.path.abspath(".."), "escaped-@MARKER@.txt"), "w") as f:
    f.write("out")
""")]
