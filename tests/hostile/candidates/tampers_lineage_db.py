"""Walks up from its folder to the campaign's lineage.db and tries to rewrite the scores."""
EXPECT, REASON = "crashed", "OperationalError"
# The file system is read-only inside the mount namespace, and a campaign under the home or temporary
# folder is not even visible: either way sqlite refuses (the zoo's campaign lives in the temporary folder).
NEEDS_NAMESPACES = True
EDITS = [("train_mps.py", "@start", """
import sqlite3
here = os.path.abspath(".")
while not os.path.exists(os.path.join(here, "lineage.db")):
    if here == os.path.dirname(here):
        raise sqlite3.OperationalError("unable to open database: no lineage.db is visible from here")
    here = os.path.dirname(here)
con = sqlite3.connect(os.path.join(here, "lineage.db"))
con.execute("create table forged (x)")
con.execute("insert into forged values (1)")
con.commit()
""")]
