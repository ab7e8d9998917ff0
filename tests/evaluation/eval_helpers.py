"""Shared test material for the evaluation tests: random FID Inception weights and tiny
image folders. (Not a test module: imported by the test_eval_* files.)"""
import atexit
import functools
import os
import shutil
import tempfile

import numpy as np
import torch
from PIL import Image
from pytorch_fid import inception as fid_inception

from evaluation.fid import FID_WEIGHTS_FILE


def random_inception_state_dict(seed: int = 0) -> dict:
    """A He-initialised state dict of pytorch-fid's FID Inception architecture (no download).

    pytorch-fid builds the architecture and then fetches its weights by URL; we keep the
    network it built and hand its own (re-initialised) state dict back as the "download"."""
    built = {}
    original_build, original_fetch = fid_inception._inception_v3, fid_inception.load_state_dict_from_url

    def build(*args, **kwargs):
        built['net'] = original_build(*args, **kwargs)
        return built['net']

    def fetch(*_args, **_kwargs):
        net = built['net']
        generator = torch.Generator().manual_seed(seed)
        for module in net.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = module.weight[0].numel()
                with torch.no_grad():
                    module.weight.normal_(0, (2.0 / fan_in) ** 0.5, generator=generator)
        return net.state_dict()

    fid_inception._inception_v3, fid_inception.load_state_dict_from_url = build, fetch
    try:
        return fid_inception.fid_inception_v3().state_dict()
    finally:
        fid_inception._inception_v3, fid_inception.load_state_dict_from_url = original_build, original_fetch


@functools.lru_cache(maxsize=None)
def inception_weights_file(seed: int = 0) -> str:
    """Path of a saved random-weights file named like pytorch-fid's, shared by the session."""
    folder = tempfile.mkdtemp(prefix='fid-weights-')
    atexit.register(shutil.rmtree, folder, True)
    path = os.path.join(folder, FID_WEIGHTS_FILE)
    torch.save(random_inception_state_dict(seed), path)
    return path


def write_images(folder: str, images, names=None, ext: str = '.png') -> list[str]:
    """Saves uint8 (H,W,3) or (H,W) arrays as ``folder/<name><ext>``; returns the paths."""
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i, array in enumerate(images):
        name = names[i] if names else f'img{i:03d}'
        path = os.path.join(folder, name + ext)
        Image.fromarray(np.asarray(array)).save(path)
        paths.append(path)
    return paths


def random_images(count: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """(count,size,size,3) uint8 noise-plus-gradient images with some variety between them."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, size)[None, :, None, None] * rng.uniform(0, 255, (count, 1, 1, 3))
    noise = rng.uniform(0, 255, (count, size, size, 3)) * rng.uniform(0.1, 1, (count, 1, 1, 1))
    return np.clip(0.5 * ramp.transpose(0, 2, 1, 3) + 0.5 * noise, 0, 255).astype(np.uint8)
