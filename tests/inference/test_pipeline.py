"""Result naming, output checks and write-failure messages of batch inference (no model)."""
import errno
import os
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from runs import layout
from util import util
from util.errors import CheckpointError, DatasetError
from inference.pipeline import OutputError, output_names, write_error


def test_unique_stems_stay_flat_even_in_sub_folders():
    paths = ['labels/a/x.png', 'labels/b/y.png', 'labels/z.png']
    assert output_names(paths) == {'labels/a/x.png': 'x', 'labels/b/y.png': 'y', 'labels/z.png': 'z'}


def test_repeated_stems_keep_the_path_below_the_common_folder_for_every_input():
    paths = ['/d/labels/b/x.png', '/d/labels/a/x.png', '/d/labels/y.png']
    assert output_names(paths) == {'/d/labels/a/x.png': 'a/x', '/d/labels/b/x.png': 'b/x', '/d/labels/y.png': 'y'}
    # the common folder is the deepest one shared by all inputs, and the order of the list does not matter
    deep = ['/d/img/MEN/id1/01_front.jpg', '/d/img/MEN/id2/01_front.jpg']
    assert output_names(deep[::-1]) == output_names(deep) == {deep[0]: 'id1/01_front', deep[1]: 'id2/01_front'}


def test_names_that_still_clash_are_refused_naming_both_files():
    with pytest.raises(DatasetError, match=r'labels/a/x.bmp and labels/a/x.png would both be saved as a/x.png'):
        output_names(['labels/a/x.png', 'labels/a/x.bmp', 'labels/b/x.png'])


@pytest.mark.parametrize('code, words', [
    (errno.ENOSPC, 'the disk is full; free some space'),
    (errno.EACCES, 'permission denied; choose another --results_dir'),
    (errno.EROFS, 'read-only; choose another --results_dir'),
    (errno.EISDIR, 'a folder is in the way'),
    (errno.EIO, 'Input/output error; check --results_dir'),
])
def test_write_errors_name_the_file_and_the_remedy(code, words):
    error = write_error('r/images/x.png', OSError(code, os.strerror(code)))
    assert isinstance(error, OutputError)
    assert str(error).startswith('r/images/x.png: cannot write, ') and words in str(error)
    assert '\n' not in str(error)


def test_failed_image_write_keeps_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / 'x.png'
    util.save_image(np.zeros((4, 4, 3), np.uint8), str(target))
    before = target.read_bytes()

    def full_disk(self, handle, **kwargs):
        handle.write(b'\x89PNG half')
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(Image.Image, 'save', full_disk)
    with pytest.raises(OSError):
        util.save_image(np.full((4, 4, 3), 255, np.uint8), str(target))
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ['x.png']


def test_saved_image_is_what_pillow_writes_with_normal_permissions(tmp_path):
    array = np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    util.save_image(array, str(tmp_path / 'ours.png'))
    Image.fromarray(array).save(tmp_path / 'pillow.png')
    assert (tmp_path / 'ours.png').read_bytes() == (tmp_path / 'pillow.png').read_bytes()
    assert os.stat(tmp_path / 'ours.png').st_mode == os.stat(tmp_path / 'pillow.png').st_mode


def run_opt(tmp_path, **kw):
    return SimpleNamespace(checkpoints_dir=str(tmp_path), name='run', which_epoch='latest', no_ema=False, **kw)


def test_missing_run_lists_the_runs_there(tmp_path):
    (tmp_path / 'other').mkdir()
    with pytest.raises(CheckpointError, match=r'run: no such run folder; check --name .*\(runs there: other\)'):
        layout.check_generator_exists(run_opt(tmp_path))


def test_missing_epoch_lists_the_epochs_in_order(tmp_path):
    (tmp_path / 'run').mkdir()
    for name in ['10_net_G.pth', '5_net_G.pth', 'latest_net_G.pth', '20_net_G_ema.pth', '5_net_D.pth']:
        (tmp_path / 'run' / name).write_bytes(b'')
    opt = run_opt(tmp_path)
    opt.which_epoch = '7'
    with pytest.raises(CheckpointError, match=r'7_net_G.pth not found: .*--which_epoch 7; .*: 5, 10, 20, latest$'):
        layout.check_generator_exists(opt)
    opt.which_epoch, opt.no_ema = '20', True  # only the EMA copy exists for epoch 20
    with pytest.raises(CheckpointError, match=r'20_net_G.pth not found: .*leave out --no_ema'):
        layout.check_generator_exists(opt)
    opt.no_ema = False
    layout.check_generator_exists(opt)


def test_run_without_generators_says_so(tmp_path):
    (tmp_path / 'run').mkdir()
    with pytest.raises(CheckpointError, match='holds no generator checkpoint'):
        layout.check_generator_exists(run_opt(tmp_path))
