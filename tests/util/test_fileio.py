"""Atomic writes: the old file survives a failed write; new files get the usual permissions;
names that are not UTF-8 round-trip."""
import os
import stat

import pytest

from util.fileio import atomic_open, atomic_write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / 'page.html'
    path.write_text('old')
    with pytest.raises(OSError):
        with atomic_open(str(path), 'w') as handle:
            handle.write('new, half')
            raise OSError(28, 'No space left on device')
    assert path.read_text() == 'old' and os.listdir(tmp_path) == ['page.html']


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(str(tmp_path / 'new.txt'), 'x')
        assert stat.S_IMODE(os.stat(tmp_path / 'new.txt').st_mode) == 0o644  # readable by all, as open() gives
        (tmp_path / 'kept.txt').write_text('x')
        os.chmod(tmp_path / 'kept.txt', 0o600)
        atomic_write_text(str(tmp_path / 'kept.txt'), 'y')
        assert stat.S_IMODE(os.stat(tmp_path / 'kept.txt').st_mode) == 0o600
    finally:
        os.umask(old)


def test_text_with_names_that_are_not_utf8_keeps_their_bytes(tmp_path):
    name = os.fsdecode(b'caf\xe9.png')  # a latin-1 file name, surrogate-escaped by Python
    atomic_write_text(str(tmp_path / 'list.txt'), name + '\n')
    assert (tmp_path / 'list.txt').read_bytes() == b'caf\xe9.png\n'


def test_blocking_file_finds_what_keeps_a_folder_from_being_created(tmp_path):
    from util.fileio import blocking_file, nearest_existing
    (tmp_path / 'a').mkdir()
    (tmp_path / 'f').write_text('x')
    os.symlink(tmp_path / 'nowhere', tmp_path / 'dangling')
    assert blocking_file(str(tmp_path / 'a' / 'b' / 'c')) is None
    assert nearest_existing(str(tmp_path / 'a' / 'b' / 'c')) == str(tmp_path / 'a')
    assert blocking_file(str(tmp_path / 'f' / 'b')) == str(tmp_path / 'f')
    assert blocking_file(str(tmp_path / 'f')) == str(tmp_path / 'f')
    assert blocking_file(str(tmp_path / 'dangling' / 'x')) == str(tmp_path / 'dangling')
