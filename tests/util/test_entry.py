"""The entry wrapper: a user error is one line with status 2, a warning is one line."""
import subprocess
import sys

REPO = __file__.rsplit('/tests/', 1)[0]
SCRIPT = '''
import warnings
from util.entry import run_cli
from util.errors import UserError
def main():
    warnings.warn("texture error: no texture in the sky regions")
    raise UserError("labels/x.png: label 7 is out of range")
run_cli(main, "evaluate.py")
'''


def test_warnings_and_errors_are_one_line_each():
    proc = subprocess.run([sys.executable, '-c', SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ['evaluate.py: warning: texture error: no texture in the sky regions',
                                        'evaluate.py: error: labels/x.png: label 7 is out of range']
