"""The one exception type that command-line tools turn into a one-line message and a non-zero exit."""


class UserError(ValueError):
    """Bad input from the user: the message names the problem and what to do about it."""
