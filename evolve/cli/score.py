"""`evolve score`: evaluate one program (the task's seed, or another folder's files) once."""
