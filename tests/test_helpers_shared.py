"""The tiny configuration is spelt out once, in tests/helpers.py: a test module that wrote the
tiny network out again would keep the old sizes when they change there, and its runs would no
longer match the others' (a checkpoint that does not load, a test that silently tests less)."""
import ast
from pathlib import Path

from helpers import REPO, TINY_D, TINY_G

TESTS = Path(REPO) / 'tests'
# (option, value) pairs of the tiny networks, e.g. ('--ngf', '4')
TINY_PAIRS = {(option, value) for spelt in (TINY_G, TINY_D) for option, value in zip(spelt[::2], spelt[1::2])}


def tiny_spellings(source: str) -> list[int]:
    """Lines where one list, tuple or call's arguments spells out two or more of the tiny networks'
    option/value pairs. One pair alone is left alone: a test may need that value for itself (a
    checkpoint of another width, say) and should say so where it does."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.List, ast.Tuple)):
            items = node.elts
        elif isinstance(node, ast.Call):
            items = node.args
        else:
            continue
        words = [item.value if isinstance(item, ast.Constant) else None for item in items]
        if len(TINY_PAIRS.intersection(zip(words, words[1:]))) >= 2:
            lines.append(node.lineno)
    return lines


def test_no_test_module_spells_out_the_tiny_networks_again():
    found = {str(path.relative_to(TESTS)): tiny_spellings(path.read_text())
             for path in sorted(TESTS.rglob('*.py')) if path.name != 'helpers.py'}
    assert {path: lines for path, lines in found.items() if lines} == {}, \
        'build these command lines from tests/helpers.py (tiny_args, tiny_test_args, TINY_NET)'


def test_the_scan_finds_the_tiny_networks_however_they_are_written():
    assert tiny_spellings((TESTS / 'helpers.py').read_text())  # where they are defined
    listed = list(TINY_G + TINY_D)
    assert tiny_spellings(f'args = ["--name", "run"] + {listed!r}') == [1]
    assert tiny_spellings(f'ARGS = (\n    "--gpu_ids", "-1",\n    *{tuple(TINY_D)!r})') == [3]
    assert tiny_spellings(f'train(*{listed!r}, crop=32)') == [1]
    # one pair alone, other values, a sentence that names them: nothing to build from helpers.py
    assert tiny_spellings(f'args = base + {list(TINY_G[:2])!r}') == []
    assert tiny_spellings('args = ["--ngf", "8", "--ndf", "16"]') == []
    assert tiny_spellings(f'text = {" ".join(listed)!r}') == []
