"""Inference, as SPADE's test.py: ``python test.py --name NAME --dataset_mode MODE --dataroot DIR``.

Writes ``results/<name>/<phase>_<which_epoch>/images/...`` and ``index.html``. Bad input stops
with one ``test.py: error: ...`` line and exit status 2; Ctrl-C with exit status 130 and a line
saying which results were written.

Faster: ``--nThreads N`` (loader workers) and ``--write_threads N`` (PNGs written in the background)
give the same files; ``--channels_last`` and ``--amp bf16`` (``fp16`` on CUDA) change pixels slightly.
"""
import sys
from typing import Optional, Sequence

from options.test_options import TestOptions
from util.entry import run_cli
from inference.pipeline import InferenceInterrupted, run_inference


def main(argv: Optional[Sequence[str]] = None) -> None:
    opt = TestOptions().parse(argv)
    try:
        web_dir = run_inference(opt)
    except InferenceInterrupted as stop:
        # run_cli's generic line would not say what the interrupted run left behind
        print(f'test.py: interrupted: {stop}', file=sys.stderr)
        sys.exit(130)
    print(f'results written to {web_dir}/index.html')


if __name__ == '__main__':
    run_cli(main, 'test.py')
