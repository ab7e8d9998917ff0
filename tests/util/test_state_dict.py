"""Reading state dicts safely and describing mismatches, shared by every weights file."""
import os

import pytest
import torch

from util.errors import CheckpointError
from util.state_dict import compare, read_state_dict, strip_module_prefix


class Payload:
    """An object whose unpickling would run code: never loaded."""

    def __reduce__(self):
        return (os.system, ('echo should-not-run',))


def test_reads_a_state_dict_and_refuses_everything_else(tmp_path):
    torch.save({'w': torch.ones(2)}, tmp_path / 'good.pth')
    assert torch.equal(read_state_dict(str(tmp_path / 'good.pth'))['w'], torch.ones(2))
    cases = {'absent.pth': 'weights not found', 'folder': 'is a folder, not a file',
             'text.pth': r'truncated, corrupt or not a PyTorch state dict \(KeyError',
             'hostile.pth': 'loading it would mean running code from the file, which is refused',
             'list.pth': 'does not hold a state dict \\(found list\\)'}
    (tmp_path / 'folder').mkdir()
    (tmp_path / 'text.pth').write_text('hello')
    torch.save({'x': Payload()}, tmp_path / 'hostile.pth')
    torch.save([1, 2], tmp_path / 'list.pth')
    for name, message in cases.items():
        with pytest.raises(CheckpointError, match=message):
            read_state_dict(str(tmp_path / name), 'weights')


def test_mismatch_lists_each_kind_and_allows_what_it_is_told():
    expected = {'a': torch.zeros(2), 'b': torch.zeros(3), 'buf': torch.zeros(1)}
    found = {'a': torch.zeros(2), 'b': torch.zeros(4), 'extra': torch.zeros(1)}
    mismatch = compare(expected, found)
    assert (mismatch.missing, mismatch.unexpected, mismatch.reshaped) == (['buf'], ['extra'], [('b', (4,), (3,))])
    assert mismatch.describe() == 'missing keys buf; unexpected keys extra; shape differences b (4,) in file vs (3,) here'
    lenient = compare(expected, found, may_lack=lambda key: key == 'buf', extra_allowed=True)
    assert (lenient.missing, lenient.unexpected) == ([], []) and bool(lenient)
    assert not compare(expected, dict(expected))
    assert strip_module_prefix({'module.a': 1, 'b': 2}) == {'a': 1, 'b': 2}
