"""The error types the CLI turns into a message without a traceback."""


class WorkshopError(Exception):
    """A mistake the user can mend: the message says what is wrong and what to do."""


class MachineError(WorkshopError):
    """A problem of this machine's setup, not of the project: a check must not blame the code."""
