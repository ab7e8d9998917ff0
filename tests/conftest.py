"""Fixtures shared by the whole suite."""
import os
import sys

import pytest
import torch

# shared helpers (tests/helpers.py) and the dataset tree builders serve tests of every package
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, 'data'))
sys.path.insert(0, HERE)


@pytest.fixture
def seeded():
    torch.manual_seed(0)
    yield
