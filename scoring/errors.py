"""The one exception type for a user's mistake: the CLI prints its message on one line and exits 2."""


class InputError(Exception):
    """Bad input from the user (a file, a folder, a setting, a name): never a bug in this program."""
