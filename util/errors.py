"""One exception type for every problem caused by the user's input.

Entry points (train.py, test.py, evaluate.py) catch :class:`UserError` and print its
message as a single line; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input: a missing file, a wrong option, a corrupt checkpoint...

    The message must name the offending file or option and say what is wrong.
    It takes exactly one string so that DataLoader workers can re-raise it.
    """


class OptionError(UserError):
    """An invalid command-line option or combination of options."""


class CheckpointError(UserError):
    """A checkpoint that is missing, truncated or does not fit the network."""


class DatasetError(UserError):
    """A dataset folder or file that cannot be used as given."""


def user_message(exc: BaseException) -> str:
    """The one line to show for ``exc``.

    A DataLoader worker re-raises a UserError with the worker's traceback folded into the
    message; the user only needs its last line.
    """
    text = str(exc).strip()
    if "Traceback (most recent call last)" in text:
        last = text.splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return text


def choose(table: dict, name: str, option: str):
    """``table[name]``, or an :class:`OptionError` naming ``--option`` and the valid choices."""
    if name not in table:
        raise OptionError(f"--{option} '{name}' is unknown; choose one of {', '.join(sorted(table))}")
    return table[name]
