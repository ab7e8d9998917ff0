"""Fixtures shared by the whole suite."""
import os
import sys

import pytest
import torch

# the dataset tree builders serve tests of every package, not only tests/data
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data'))


@pytest.fixture
def seeded():
    torch.manual_seed(0)
    yield
