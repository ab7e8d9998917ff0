"""The build a run records: the commit and whether the tree had changes ('unknown' without git or
a repository), torch, the CPU, the instruction sets and their limit, the threads; kept as a
history that grows only when the build changes."""
import json
import subprocess

import pytest
import torch

from util import provenance
from util.errors import UserError


def git(repo, *args: str) -> str:
    return subprocess.run(['git', '-C', str(repo), '-c', 'user.name=t', '-c', 'user.email=t@t', *args],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path):
    folder = tmp_path / 'repo'
    folder.mkdir()
    git(folder, 'init', '-q')
    (folder / 'code.py').write_text('x = 1\n')
    git(folder, 'add', 'code.py')
    git(folder, 'commit', '-q', '-m', 'first')
    return folder


def test_the_commit_and_uncommitted_changes(repo):
    head = git(repo, 'rev-parse', 'HEAD').strip()
    clean = provenance.collect(str(repo))
    assert (clean['commit'], clean['dirty']) == (head, False)
    (repo / 'code.py').write_text('x = 2\n')
    assert provenance.collect(str(repo))['dirty'] is True
    assert provenance.commit_label(provenance.collect(str(repo))) == head[:7] + '+'


def test_without_git_or_a_repository_the_commit_is_unknown(tmp_path, monkeypatch):
    outside = tmp_path / 'no_repo'
    outside.mkdir()
    monkeypatch.setenv('GIT_CEILING_DIRECTORIES', str(tmp_path))  # git may not look above it
    assert (provenance.collect(str(outside))['commit'], provenance.collect(str(outside))['dirty']) == \
        ('unknown', 'unknown')
    monkeypatch.setenv('PATH', str(outside))  # no git program at all
    found = provenance.collect(str(outside))
    assert found['commit'] == 'unknown' and provenance.commit_label(found) == 'unknown'


def test_the_machine_and_the_instruction_set_limit(repo, monkeypatch):
    monkeypatch.setenv(provenance.ISA_LIMIT, 'AVX2')
    found = provenance.collect(str(repo))
    assert found['torch'] == torch.__version__ and found['threads'] == torch.get_num_threads()
    assert found['cpu_capability'] == torch.backends.cpu.get_cpu_capability() and found['cpu']
    assert found[provenance.ISA_LIMIT] == 'AVX2'
    assert provenance.isa_label(found).endswith(', oneDNN limited to AVX2')
    assert provenance.isa_label({**found, 'cpu_capability': 'AVX512', 'cpu_flags': ['avx512_bf16', 'amx_bf16'],
                                 provenance.ISA_LIMIT: None}) == 'AVX512 +avx512_bf16 +amx_bf16'
    other = {**found, provenance.ISA_LIMIT: None}
    assert provenance.build(found) != provenance.build(other)  # what the kernels may use is part of the build
    assert provenance.build(found) == provenance.build({**found, 'threads': 7, 'cpu': 'another model'})


def test_the_history_grows_only_when_the_build_changes(repo, tmp_path, monkeypatch):
    path = str(tmp_path / 'provenance.json')
    assert provenance.read(path) == []
    provenance.record(path, str(repo))
    provenance.record(path, str(repo))  # resumed on the same build: nothing added
    assert len(provenance.read(path)) == 1 and 'recorded' in provenance.read(path)[0]
    monkeypatch.setenv(provenance.ISA_LIMIT, 'AVX2')
    provenance.record(path, str(repo))
    history = provenance.read(path)
    assert [e[provenance.ISA_LIMIT] for e in history] == [None, 'AVX2']
    assert json.load(open(path)) == history


@pytest.mark.parametrize('text', ['{"commit": "a"', '{"commit": "a"}'])
def test_a_damaged_history_is_one_line_naming_the_file(tmp_path, text):
    path = tmp_path / 'provenance.json'
    path.write_text(text)
    with pytest.raises(UserError, match=rf'^{path}: .*restore it or delete it'):
        provenance.read(str(path))
