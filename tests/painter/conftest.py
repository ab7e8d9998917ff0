"""Tiny runs trained once per session, shared by the painter's server and browser tests."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from painter.engine import Painter  # noqa: E402
from painter_helpers import Served, train_tiny_run  # noqa: E402


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory):
    """A plain SPADE run (32x32, 8 synthetic classes): (checkpoints_dir, name)."""
    return train_tiny_run(tmp_path_factory.mktemp('painter_runs'), 'tiny')


@pytest.fixture(scope='session')
def vae_run(tmp_path_factory):
    """A --use_vae run (64x64, z_dim 8): (checkpoints_dir, name)."""
    return train_tiny_run(tmp_path_factory.mktemp('painter_vae_runs'), 'tinyvae', '--use_vae', '--z_dim', '8', crop=64)


def serve(run):
    ckpt, name = run
    server = Served(Painter.from_argv(['--name', name, '--checkpoints_dir', ckpt, '--gpu_ids', '-1']))
    yield server
    server.close()


@pytest.fixture(scope='module')
def served(tiny_run):
    """The tiny run's painter, served on a free port of 127.0.0.1."""
    yield from serve(tiny_run)


@pytest.fixture(scope='module')
def vae_served(vae_run):
    yield from serve(vae_run)
