"""Walks up from its folder to the campaign's lineage.db and tries to rewrite the scores."""
EXPECT, REASON = "crashed", "readonly database"
NEEDS_NAMESPACES = True  # the file system is made read-only inside the mount namespace
EDITS = [("train_mps.py", "@start", """
import sqlite3
here = os.path.abspath(".")
while not os.path.exists(os.path.join(here, "lineage.db")):
    here = os.path.dirname(here)
con = sqlite3.connect(os.path.join(here, "lineage.db"))
con.execute("create table forged (x)")
con.execute("insert into forged values (1)")
con.commit()
""")]
