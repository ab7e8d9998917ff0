"""A trained run's generator as a deployable model:

    python export.py --name NAME [--format onnx|torchscript] [--which_epoch latest] [--no_ema] [--output FILE]

Writes ``checkpoints/NAME/export/<G or G_ema>_<epoch>.onnx`` (``.pt`` for TorchScript) after checking
it against the PyTorch generator on random label maps at several batch sizes, then prints the
differences and how to run the file (the program in docs/export.md). Input: the one-hot label map (+ the
instance-edge channel), and z with ``--use_vae``; output: the image in [-1, 1]; the batch size is
free, the height and width are the run's. See docs/export.md. Bad input stops with one
``export.py: error: ...`` line and exit status 2.
"""
from typing import Optional, Sequence

from inference.export import ExportOptions, export_run, usage
from util.entry import run_cli


def main(argv: Optional[Sequence[str]] = None) -> None:
    opt = ExportOptions().parse(argv, verbose=False)
    result = export_run(opt)
    print(f'exported {result.source} as {result.format} to {result.path}')
    print(result.summary(opt.tolerance))
    print(result.spec.shapes())
    print('\nto run it:\n')
    print(usage(result))


if __name__ == '__main__':
    run_cli(main, 'export.py')
