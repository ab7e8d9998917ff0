"""Numbers taken from a request (query values, path parts, headers), parsed and range-checked
in one place, so that a value out of range is a 400 that says the allowed range, never an
overflow deep inside torch or numpy (a 500)."""
import re
from typing import Optional

# torch.Generator.manual_seed takes an unsigned 64-bit seed (negative ones wrap onto it)
SEED_RANGE = (0, 2 ** 64 - 1)
# a canvas side; the run's own size is checked after parsing
SIDE_RANGE = (1, 65535)
# a map of the test split; the split's own length is checked after parsing
INDEX_RANGE = (0, 2 ** 31 - 1)

_DECIMAL = re.compile(r'-?[0-9]+')  # ASCII digits only: int() would also take '1_0', ' 7', '²'
_MAX_DIGITS = 100  # far beyond any range here, and far below int()'s limit on digits


class RequestError(ValueError):
    """A request the painter refuses; the message is shown in the page as it is."""


def parse_int(text: Optional[str], name: str, low: int, high: int) -> int:
    """``text`` as a decimal integer in ``low..high``; otherwise a :class:`RequestError` naming
    ``name``, the allowed range and the value received."""
    text = text or ''
    value = None
    if _DECIMAL.fullmatch(text) and len(text.lstrip('-').lstrip('0')) <= _MAX_DIGITS:
        value = int(text)
    if value is None or not low <= value <= high:
        raise RequestError(f'{name} must be an integer in {low}..{high}, got {_shown(text)}')
    return value


def query_int(query: dict, name: str, low: int, high: int, required: bool = True) -> Optional[int]:
    """The query value ``name`` through :func:`parse_int`; a missing or empty one is refused
    when ``required``, else None."""
    text = query.get(name)
    if text in (None, '') and not required:
        return None
    return parse_int(text, name, low, high)


def _shown(text: str) -> str:
    """The value as received, on one line and short enough for a message."""
    if not text:
        return 'nothing'
    shown = ascii(text[:40])  # escapes newlines and other characters a one-line message must not hold
    return shown if len(text) <= 40 else f'{shown[:-1]}...{shown[-1]} ({len(text)} characters)'
