"""painter.params: numbers from a request parsed in one place, refused with the allowed range."""
import pytest
import torch

from painter.params import SEED_RANGE, RequestError, parse_int, query_int


@pytest.mark.parametrize('text, value', [('0', 0), ('7', 7), ('007', 7), ('-3', -3), ('65535', 65535)])
def test_decimal_integers_in_range_are_read(text, value):
    assert parse_int(text, 'n', -5, 65535) == value


@pytest.mark.parametrize('text, shown', [
    ('65536', "'65536'"), ('-6', "'-6'"),                                    # just outside
    ('1' * 5000, '(5000 characters)'),                                         # int() itself refuses this
    ('²', r"'\xb2'"), ('٣', r"'\u0663'"), ('1_0', "'1_0'"), (' 7', "' 7'"),  # int() would take these
    ('+7', "'+7'"), ('7.0', "'7.0'"), ('1e3', "'1e3'"), ('0x10', "'0x10'"), ('seven', "'seven'"),
    ('', 'nothing'), (None, 'nothing'), ('7\nX-Injected: 1', r"'7\nX-Injected: 1'"),
])
def test_anything_else_is_refused_with_the_range_on_one_line(text, shown):
    with pytest.raises(RequestError) as refused:
        parse_int(text, 'the thing', -5, 65535)
    message = str(refused.value)
    assert message.startswith('the thing must be an integer in -5..65535, got ')
    assert shown in message and '\n' not in message and len(message) < 200


def test_query_values_missing_or_empty_are_none_only_when_optional():
    assert query_int({'a': '3'}, 'a', 0, 9) == 3
    assert query_int({}, 'a', 0, 9, required=False) is None
    assert query_int({'a': ''}, 'a', 0, 9, required=False) is None
    with pytest.raises(RequestError, match=r'^a must be an integer in 0\.\.9, got nothing$'):
        query_int({}, 'a', 0, 9)
    with pytest.raises(RequestError, match=r"got '10'"):
        query_int({'a': '10'}, 'a', 0, 9, required=False)


def test_the_seed_range_is_what_torch_generators_accept():
    """Every seed the range lets through seeds a generator; the next one up does not (the
    reason for the range: 2**64 used to reach manual_seed and fail with a 500)."""
    low, high = SEED_RANGE
    for seed in (low, high):
        torch.Generator().manual_seed(seed)
    with pytest.raises((ValueError, RuntimeError, OverflowError)):
        torch.Generator().manual_seed(high + 1)
    # negative seeds wrap onto this range, so refusing them loses no style
    a = torch.randn(3, generator=torch.Generator().manual_seed(-1))
    assert torch.equal(a, torch.randn(3, generator=torch.Generator().manual_seed(high)))
