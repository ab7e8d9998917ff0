"""One --quick study for every test of the study that reads a finished one (it takes a minute)."""
import pytest

from tests.experiments.quick_study import SHARED, study


@pytest.fixture(scope='session')
def finished_study(tmp_path_factory):
    """(folder, completed process) of vgg and patchnce with seeds 0 and 1 plus a configuration
    that fails at once. Tests that change a study work on :func:`quick_study.copy_of` it."""
    out = tmp_path_factory.mktemp('study')
    result = study(out, *SHARED)
    assert result.returncode == 0, result.stderr + result.stdout
    return out, result
