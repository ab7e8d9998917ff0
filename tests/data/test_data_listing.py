"""Listing folders and reading list files: symbolic-link loops, unreadable folders, file names
and list files that are not UTF-8 - each works or fails with one line naming the file."""
import os
import warnings

import numpy as np
import pytest

import data
from data.celebahq_split import official_split
from data.image_folder import CACHE_NAME, make_dataset, natural_key
from helpers import run_with_deadline
from data_fixtures import build_celebahq_prepared, build_celebahq_raw, build_custom, inference_opt, write_image
from util.errors import DatasetError





def touch_png(path: str) -> str:
    return write_image(path, np.zeros((2, 2), dtype=np.uint8))


def relative(paths, root):
    return [os.path.relpath(p, root) for p in paths]


# ---------------------------------------------------------------------------- symbolic links
def test_symbolic_link_loops_are_skipped_with_a_warning(tmp_path):
    root = str(tmp_path / 'labels')
    touch_png(os.path.join(root, 'a.png'))
    touch_png(os.path.join(root, 'sub', 'b.png'))
    os.symlink(root, os.path.join(root, 'sub', 'up'))        # back to an ancestor
    os.symlink('..', os.path.join(root, 'sub', 'parent'))    # two ways back: 2^depth paths unchecked
    paths, messages = run_with_deadline(make_dataset, root, True)
    assert relative(paths, root) == ['a.png', os.path.join('sub', 'b.png')]
    assert sorted(m.split(':')[0] for m in messages) == [os.path.join(root, 'sub', n) for n in ('parent', 'up')]
    assert all(f'leads to {os.path.realpath(root)}, already listed as {root}' in m for m in messages)


def test_link_beside_its_target_lists_the_real_folder(tmp_path):
    root = str(tmp_path / 'labels')
    touch_png(os.path.join(root, 'train', 'a.png'))
    os.symlink('train', os.path.join(root, 'all'))  # sorts before 'train'
    paths, messages = run_with_deadline(make_dataset, root, True)
    assert relative(paths, root) == [os.path.join('train', 'a.png')]
    assert len(messages) == 1 and messages[0].startswith(os.path.join(root, 'all') + ': skipped')


def test_link_to_a_folder_outside_is_followed(tmp_path):
    outside = touch_png(str(tmp_path / 'elsewhere' / 'x.png'))
    root = str(tmp_path / 'labels')
    touch_png(os.path.join(root, 'a.png'))
    os.symlink(os.path.dirname(outside), os.path.join(root, 'more'))
    paths, messages = run_with_deadline(make_dataset, root, True)
    assert relative(paths, root) == ['a.png', os.path.join('more', 'x.png')] and messages == []


# ---------------------------------------------------------------------------- unreadable folders
def test_unreadable_subfolder_is_an_error_not_a_silent_gap(tmp_path, monkeypatch):
    root = str(tmp_path / 'labels')
    touch_png(os.path.join(root, 'locked', 'a.png'))
    real_scandir = os.scandir

    def scandir(path='.'):
        if os.fspath(path).endswith('locked'):
            raise PermissionError(13, 'Permission denied', os.fspath(path))
        return real_scandir(path)
    monkeypatch.setattr(os, 'scandir', scandir)
    with pytest.raises(DatasetError, match=r'labels/locked: cannot list this folder \(Permission denied\)'):
        make_dataset(root, recursive=True)


def test_unreadable_folder_listed_without_recursion(tmp_path, monkeypatch):
    def listdir(path):
        raise PermissionError(13, 'Permission denied', path)
    monkeypatch.setattr(os, 'listdir', listdir)
    with pytest.raises(DatasetError, match=r'cannot list this folder \(Permission denied\); check its permissions'):
        make_dataset(str(tmp_path))


@pytest.mark.skipif(os.name != 'posix' or os.geteuid() == 0, reason='needs a user that permissions apply to')
def test_folder_without_read_permission(tmp_path):
    locked = tmp_path / 'labels' / 'locked'
    touch_png(str(locked / 'a.png'))
    locked.chmod(0)
    try:
        with pytest.raises(DatasetError, match=r'locked: cannot list this folder'):
            make_dataset(str(tmp_path / 'labels'), recursive=True)
    finally:
        locked.chmod(0o755)


def test_label_folder_that_is_a_file(tmp_path):
    tree = build_custom(str(tmp_path), names=('a',))
    not_a_folder = os.path.join(tree['label_dir'], 'a.png')
    opt = inference_opt('--dataset_mode', 'custom', '--label_dir', not_a_folder, '--crop_size', '32')
    with pytest.raises(DatasetError, match=r'a.png: is a file, not a folder; check --label_dir'):
        data.create_dataset(opt)


def test_labels_only_with_one_name_twice_is_refused(tmp_path):
    tree = build_custom(str(tmp_path), names=('a', 'b'))
    write_image(os.path.join(tree['label_dir'], 'a.bmp'), np.zeros((32, 48), dtype=np.uint8))
    opt = inference_opt('--dataset_mode', 'custom', '--label_dir', tree['label_dir'], '--crop_size', '32')
    with pytest.raises(DatasetError, match=r'labels/\*: 1 name\(s\) occur more than once .*a.bmp'):
        data.create_dataset(opt)


# ---------------------------------------------------------------------------- names that are not UTF-8
ODD = os.fsdecode(b'caf\xe9')  # latin-1 'café': not UTF-8, so Python surrogate-escapes it


def odd_tree(root: str) -> dict:
    tree = build_custom(root, names=('b', 'a10', 'a2'))
    for folder in (tree['label_dir'], tree['image_dir']):
        try:
            os.rename(os.path.join(folder, 'b.png'), os.path.join(folder, ODD + '.png'))
        except (OSError, UnicodeEncodeError):
            pytest.skip('the file system refuses names that are not UTF-8')
    return tree


def test_names_that_are_not_utf8_pair_sort_and_load(tmp_path):
    tree = odd_tree(str(tmp_path))
    opt = inference_opt('--dataset_mode', 'custom', '--label_dir', tree['label_dir'], '--image_dir',
                        tree['image_dir'], '--crop_size', '32', '--serial_batches')
    dataset = data.create_dataset(opt)
    assert [os.path.basename(s.label) for s in dataset.samples] == ['a2.png', 'a10.png', ODD + '.png']
    assert [os.path.basename(s.image) for s in dataset.samples] == ['a2.png', 'a10.png', ODD + '.png']
    batch = next(iter(data.create_dataloader(opt, dataset=dataset, batch_size=3)))
    assert os.fsencode(batch['path'][2]).endswith(b'caf\xe9.png')


def test_names_that_are_not_utf8_go_through_the_file_list_cache(tmp_path):
    tree = odd_tree(str(tmp_path))
    written = make_dataset(tree['label_dir'], recursive=True, write_cache=True)
    with open(os.path.join(tree['label_dir'], CACHE_NAME), 'rb') as handle:
        assert b'caf\xe9.png\n' in handle.read()  # the name's own bytes
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # not stale
        assert make_dataset(tree['label_dir'], read_cache=True) == written


def test_cache_naming_files_that_do_not_exist_falls_back_to_listing(tmp_path):
    folder = os.path.dirname(touch_png(str(tmp_path / 'labels' / 'a.png')))
    with open(os.path.join(folder, CACHE_NAME), 'wb') as handle:
        handle.write(b'gar\xe7on.png\n')  # latin-1, and no such file
    with pytest.warns(UserWarning, match='stale file-list cache'):
        assert relative(make_dataset(folder, read_cache=True), folder) == ['a.png']


def test_cache_is_not_written_for_a_name_with_a_line_break(tmp_path):
    folder = os.path.dirname(touch_png(str(tmp_path / 'labels' / 'a\nb.png')))
    with pytest.warns(UserWarning, match=r"not written, the file name 'a\\nb.png' has a line break"):
        make_dataset(folder, write_cache=True)
    assert not os.path.exists(os.path.join(folder, CACHE_NAME))


def test_natural_key_takes_digits_that_int_refuses():
    assert sorted(['x1\u00b22.png', 'x1.png'], key=natural_key) == ['x1.png', 'x1\u00b22.png']


# ---------------------------------------------------------------------------- list files
def test_split_list_that_is_not_utf8_names_the_line(tmp_path):
    root = build_celebahq_prepared(str(tmp_path))['dataroot']
    with open(os.path.join(root, 'train.txt'), 'wb') as handle:
        handle.write(b'0\n1 caf\xe9\n2\n')
    opt = inference_opt('--dataset_mode', 'celebahq', '--dataroot', root, '--phase', 'train')
    with pytest.raises(DatasetError, match=r'train.txt: line 2 is not UTF-8 text \(byte 0xe9\)'):
        data.create_dataset(opt)


def test_split_list_with_a_byte_order_mark_and_crlf_is_read(tmp_path):
    root = build_celebahq_prepared(str(tmp_path))['dataroot']
    with open(os.path.join(root, 'train.txt'), 'wb') as handle:
        handle.write(b'\xef\xbb\xbf0\r\n1\r\n')
    opt = inference_opt('--dataset_mode', 'celebahq', '--dataroot', root, '--phase', 'train')
    assert [os.path.basename(s.image) for s in data.create_dataset(opt).samples] == ['0.jpg', '1.jpg']


def test_celeba_partition_file_that_is_not_utf8_names_the_line(tmp_path):
    root = build_celebahq_raw(str(tmp_path), ids=(0, 1))['dataroot']
    with open(os.path.join(root, 'list_eval_partition.txt'), 'wb') as handle:
        handle.write(b'001000.jpg 2\r\n001001.jpg 0 \xb4\r\n')
    with pytest.raises(DatasetError, match=r'list_eval_partition.txt: line 2 is not UTF-8 text \(byte 0xb4\)'):
        official_split(root)


def test_celeba_partition_with_an_unknown_split_code_is_refused(tmp_path):
    root = build_celebahq_raw(str(tmp_path), ids=(0, 1))['dataroot']
    with open(os.path.join(root, 'list_eval_partition.txt'), 'w') as handle:
        handle.write('001000.jpg 2\n001001.jpg val\n')  # was silently 'train'
    with pytest.raises(DatasetError, match=r"list_eval_partition.txt: line 2 is '001001.jpg val', expected"):
        official_split(root)


def test_celeba_image_named_with_other_digits_is_ignored(tmp_path):
    root = build_celebahq_raw(str(tmp_path), ids=(0, 1))['dataroot']
    touch_png(os.path.join(root, 'CelebA-HQ-img', '\u00b2.jpg'))  # '²'.isdigit() but int('²') fails
    opt = inference_opt('--dataset_mode', 'celebahq', '--dataroot', root, '--phase', 'train')
    assert len(data.create_dataset(opt)) == 2
