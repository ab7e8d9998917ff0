"""Shared wrapper for command-line entry points: user errors become one clear line."""
import sys
import warnings
from typing import Callable

from util.errors import UserError, user_message


def run_cli(main: Callable[[], None], prog: str) -> None:
    """Run ``main``; on a :class:`UserError` print ``prog: error: ...`` and exit with 2."""
    # file names that are not UTF-8 reach messages surrogate-escaped; print them, do not crash
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, 'reconfigure'):
            stream.reconfigure(errors='backslashreplace')
    # a warning is one line for the user, not Python's two (message, then the source line)
    warnings.formatwarning = lambda message, category, *_: f'{prog}: warning: {message}\n'
    try:
        main()
    except UserError as exc:
        print(f"{prog}: error: {user_message(exc)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
