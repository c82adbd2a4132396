"""The one error type the CLI turns into a message without a traceback."""


class WorkshopError(Exception):
    """A mistake the user can mend: the message says what is wrong and what to do."""
