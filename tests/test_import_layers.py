"""The import layers (docs/architecture.md).

The packages import each other one way: no cycle between packages, and ``util`` imports none of
them. The graph is read from the source (every ``import`` statement, inside functions too), so
a lazy import cannot hide a cycle.

The option layer stays light: declaring options, asking for --help and training without
--eval_freq never load pytorch-fid, mit-semseg or the modules that compute metrics. Each case
runs in a fresh interpreter, since this test session has imported everything already."""
import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Optional, Sequence

import pytest

from helpers import tiny_args

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ('options', 'data', 'models', 'runs', 'trainers', 'inference', 'evaluation', 'painter', 'experiments',
            'util')
Graph = dict[str, dict[str, list[str]]]  # package -> imported package -> where ('path:line', ...)


def imported_modules(tree: ast.AST) -> list[tuple[str, int]]:
    """(absolute module name, line) of each import in ``tree``; relative imports stay in their package."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
    return found


def import_graph(root: Path, packages: Sequence[str]) -> Graph:
    """Which of ``packages`` (folders under ``root``) each one imports, and where."""
    graph: Graph = {package: defaultdict(list) for package in packages}
    for package in packages:
        for path in sorted((root / package).rglob('*.py')):
            tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
            for module, line in imported_modules(tree):
                target = module.split('.')[0]
                if target in graph and target != package:
                    graph[package][target].append(f'{path.relative_to(root).as_posix()}:{line}')
    return graph


def find_cycle(graph: Graph) -> Optional[list[str]]:
    """A cycle of packages ``[a, b, ..., a]``, or None when the imports point one way."""
    state = {}  # package -> 'open' while on the current path, 'done' once all it reaches is explored

    def visit(package: str, path: list[str]) -> Optional[list[str]]:
        state[package] = 'open'
        for target in sorted(graph[package]):
            if state.get(target) == 'open':
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[package] = 'done'
        return None

    for package in sorted(graph):
        if package not in state:
            cycle = visit(package, [package])
            if cycle:
                return cycle
    return None


def describe(graph: Graph, cycle: list[str]) -> str:
    steps = [f'{a} -> {b} ({graph[a][b][0]})' for a, b in zip(cycle, cycle[1:])]
    return 'import cycle: ' + '; '.join(steps)


def test_the_packages_import_each_other_one_way():
    graph = import_graph(REPO, PACKAGES)
    cycle = find_cycle(graph)
    assert cycle is None, describe(graph, cycle)


def test_the_graph_covers_every_package_of_the_project():
    assert {init.parent.name for init in REPO.glob('*/__init__.py')} == set(PACKAGES)


def test_util_imports_no_project_package():
    imports = import_graph(REPO, PACKAGES)['util']
    assert not imports, f"util/ is generic, yet imports {dict(imports)}"


def write_package(root: Path, name: str, files: dict[str, str]) -> None:
    (root / name).mkdir()
    (root / name / '__init__.py').write_text('')
    for file, text in files.items():
        (root / name / file).write_text(text)


def test_the_cycle_check_sees_imports_in_functions_and_every_form(tmp_path):
    # so the tests above cannot pass because the graph misses an import
    write_package(tmp_path, 'low', {'a.py': 'import os\nfrom . import b\n', 'b.py': ''})
    write_package(tmp_path, 'mid', {'m.py': 'import low.a as alias\n'})
    write_package(tmp_path, 'top', {'t.py': 'def lazy():\n    from mid.m import alias\n'})
    graph = import_graph(tmp_path, ('low', 'mid', 'top'))
    assert {p: dict(g) for p, g in graph.items()} == {'low': {}, 'mid': {'low': ['mid/m.py:1']},
                                                       'top': {'mid': ['top/t.py:2']}}
    assert find_cycle(graph) is None
    (tmp_path / 'low' / 'b.py').write_text('def late():\n    import top\n')
    graph = import_graph(tmp_path, ('low', 'mid', 'top'))
    assert find_cycle(graph) == ['low', 'top', 'mid', 'low']
    assert describe(graph, find_cycle(graph)) == ('import cycle: low -> top (low/b.py:2); top -> mid (top/t.py:2); '
                                                  'mid -> low (mid/m.py:1)')
METRIC_STACK = ('pytorch_fid', 'mit_semseg', 'evaluation.fid', 'evaluation.fid_cache', 'evaluation.suite',
                'evaluation.segmenters', 'evaluation.generator_eval', 'evaluation.run')
MARK = 'LOADED='
PROBE = '''
import json, runpy, sys
sys.argv = {argv!r}
status = 0
try:
    {action}
except SystemExit as exit:
    status = exit.code or 0
print({mark!r} + json.dumps([status, sorted(sys.modules)]))
'''


def metric_modules_loaded(action: str, argv: Sequence[str] = ()) -> list[str]:
    """The metric modules a fresh interpreter holds after ``action`` (which must succeed)."""
    code = PROBE.format(argv=['probe', *argv], action=action, mark=MARK)
    done = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    status, modules = json.loads(done.stdout.strip().splitlines()[-1].removeprefix(MARK))
    assert status == 0, done.stderr[-3000:]
    return [name for name in modules if name.split('.')[0] in METRIC_STACK or name.startswith(METRIC_STACK)]


def script(name: str) -> str:
    return f"runpy.run_path({name!r}, run_name='__main__')"


def tiny_training(root: Path) -> list[str]:
    return tiny_args(root, 'run', '--synthetic_train_size', '2', '--no_vgg_loss')


@pytest.mark.parametrize('action, argv', [
    ('import options.train_options, options.test_options, evaluation.options', []),
    (script('train.py'), ['--help']),
    (script('test.py'), ['--help']),
    (script('evaluate.py'), ['--help']),
    (script('evaluate.py'), ['model', '--help']),
    (script('evaluate.py'), ['folders', '--help']),
    ('import trainers.loop', []),
], ids=['option classes', 'train.py --help', 'test.py --help', 'evaluate.py --help', 'evaluate.py model --help',
        'evaluate.py folders --help', 'import trainers.loop'])
def test_options_and_help_do_not_load_the_metric_stack(action, argv):
    assert metric_modules_loaded(action, argv) == []


def test_training_without_eval_freq_does_not_load_the_metric_stack(tmp_path):
    assert metric_modules_loaded(script('train.py'), tiny_training(tmp_path)) == []
    assert (tmp_path / 'run' / 'latest_net_G.pth').is_file()  # it did train


def test_the_probe_sees_the_metric_stack_when_it_is_loaded():
    # otherwise the tests above would pass whatever was imported
    assert 'evaluation.segmenters' in metric_modules_loaded('import evaluation.segmenters')
