"""End to end: test.py on a tiny custom dataset (labels only, and labels + images)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from models import networks
from options.test_options import TestOptions
from util.inference import run_inference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEMS = ['a_01', 'b_02', 'c_03']


def write_custom_dataset(root, with_images: bool, size: int = 64):
    rng = np.random.default_rng(0)
    (root / 'labels').mkdir(parents=True)
    for i, stem in enumerate(STEMS):
        label = np.zeros((size, size), np.uint8)
        label[:, : size // 2] = i + 1
        label[size // 4: size // 2, size // 4:] = 4
        Image.fromarray(label).save(root / 'labels' / f'{stem}.png')
        if with_images:
            (root / 'images').mkdir(exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / 'images' / f'{stem}.jpg')


def cli_args(root, ckpt, results, with_images):
    args = ['--gpu_ids', '-1', '--name', 'tiny', '--checkpoints_dir', str(ckpt), '--results_dir', str(results),
            '--dataset_mode', 'custom', '--label_dir', str(root / 'labels'), '--label_nc', '5', '--no_instance',
            '--crop_size', '64', '--load_size', '64', '--ngf', '4', '--norm_G', 'spectralspadebatch3x3',
            '--batchSize', '2']
    return args + (['--image_dir', str(root / 'images')] if with_images else [])


def save_random_generator(args, ckpt):
    opt = TestOptions().parse(args, verbose=False)
    torch.manual_seed(3)
    net = networks.define_G(opt, verbose=False)
    os.makedirs(ckpt / 'tiny', exist_ok=True)
    torch.save(net.state_dict(), ckpt / 'tiny' / 'latest_net_G.pth')  # as SPADE would
    return opt, net.eval()


@pytest.mark.parametrize('with_images', [False, True])
def test_test_py_writes_spade_layout(tmp_path, with_images):
    root, ckpt, results = tmp_path / 'data', tmp_path / 'ckpt', tmp_path / 'results'
    write_custom_dataset(root, with_images)
    args = cli_args(root, ckpt, results, with_images)
    _, net = save_random_generator(args, ckpt)
    proc = subprocess.run([sys.executable, 'test.py'] + args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    web = results / 'tiny' / 'test_latest'
    assert (web / 'index.html').is_file()
    page = (web / 'index.html').read_text()
    for stem in STEMS:
        assert (web / 'images' / 'input_label' / f'{stem}.png').is_file()
        assert (web / 'images' / 'real_image' / f'{stem}.png').is_file() == with_images
        assert f'images/synthesized_image/{stem}.png' in page
    # the saved image is the generator's output for that label map, converted as SPADE does
    label = torch.from_numpy(np.array(Image.open(root / 'labels' / 'b_02.png'))).long()
    seg = torch.nn.functional.one_hot(label, 5).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        expected = ((net(seg)[0].permute(1, 2, 0) + 1) / 2 * 255).clamp(0, 255).to(torch.uint8).numpy()
    saved = np.array(Image.open(web / 'images' / 'synthesized_image' / 'b_02.png'))
    assert saved.shape == (64, 64, 3)
    assert np.abs(saved.astype(int) - expected.astype(int)).max() <= 1


def test_how_many_and_determinism(tmp_path):
    root, ckpt = tmp_path / 'data', tmp_path / 'ckpt'
    write_custom_dataset(root, with_images=False)
    args = cli_args(root, ckpt, tmp_path / 'r1', False) + ['--how_many', '1']
    save_random_generator(args, ckpt)
    web = run_inference(TestOptions().parse(args, verbose=False))
    assert sorted(os.listdir(os.path.join(web, 'images', 'synthesized_image'))) == ['a_01.png']
    again = run_inference(TestOptions().parse(cli_args(root, ckpt, tmp_path / 'r2', False) + ['--how_many', '1'],
                                              verbose=False))
    first = open(os.path.join(web, 'images', 'synthesized_image', 'a_01.png'), 'rb').read()
    second = open(os.path.join(again, 'images', 'synthesized_image', 'a_01.png'), 'rb').read()
    assert first == second


def test_wrong_checkpoint_gives_one_line(tmp_path):
    root, ckpt = tmp_path / 'data', tmp_path / 'ckpt'
    write_custom_dataset(root, with_images=False)
    args = cli_args(root, ckpt, tmp_path / 'r', False)
    save_random_generator(args, ckpt)
    wrong = [a if a != '4' else '8' for a in args]  # --ngf 8 against a checkpoint trained with 4
    proc = subprocess.run([sys.executable, 'test.py'] + wrong, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('test.py: error:') and 'latest_net_G.pth' in last and '--ngf' in last
