"""Inference, as SPADE's test.py: ``python test.py --name NAME --dataset_mode MODE --dataroot DIR``.

Writes ``results/<name>/<phase>_<which_epoch>/images/...`` and ``index.html``.
"""
from options.test_options import TestOptions
from util.entry import run_cli
from util.inference import run_inference


def main() -> None:
    opt = TestOptions().parse()
    web_dir = run_inference(opt)
    print(f'results written to {web_dir}/index.html')


if __name__ == '__main__':
    run_cli(main, 'test.py')
