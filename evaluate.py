"""Metrics of generated images: FID, mIoU / pixel accuracy, SWD (see evaluation/README.md).

    python evaluate.py --fake_dir results/NAME/test_latest/images/synthesized_image \\
                       --real_dir results/NAME/test_latest/images/real_image \\
                       [--label_dir datasets/ADEChallengeData2016/annotations/validation] \\
                       [--dataset_mode ade20k --seg_weights ckpt/ade20k-resnet101-upernet] [--out FILE]

Files are paired by name (stem). Prints a table and writes ``metrics.json`` beside the
generated images' folder, or to ``--out``.
"""
import sys
from typing import Optional, Sequence

import torch

from evaluation.options import modify_commandline_options, settings_from_opt
from evaluation.report import default_output_path, format_table, write_metrics
from evaluation.run import evaluate_folders
from options.base_options import OptionParser, parse_gpu_ids
from util.entry import run_cli
from util.errors import OptionError

PROG = 'evaluate.py'


def folder_parser(argv: Sequence[str]) -> OptionParser:
    parser = OptionParser(argv, prog=PROG, description='Scores generated images against real images.')
    parser.add_argument('--fake_dir', type=str, required=True, help='generated images')
    parser.add_argument('--real_dir', type=str, required=True, help='real images, named like the generated ones')
    parser.add_argument('--label_dir', type=str, default=None,
                        help='label maps (class indices, as in the dataset) named like the generated images; '
                             'needed for mIoU and pixel accuracy')
    parser.add_argument('--dataset_mode', type=str, default=None,
                        help='dataset of the images (ade20k, synthetic, celebahq, ...): picks the segmenter '
                             'and the metrics that apply')
    parser.add_argument('--gpu_ids', type=str, default=None,
                        help='gpu id, e.g. 0; -1 for CPU [default: 0 when CUDA is available, else -1]')
    parser.add_argument('--out', type=str, default=None,
                        help='where to write the metrics [default: metrics.json beside --fake_dir]')
    modify_commandline_options(parser, is_train=False)
    parser.add_argument('-h', '--help', action='help', help='show this help message and exit')
    return parser


def device_of(gpu_ids: list[int]) -> torch.device:
    if not gpu_ids:
        return torch.device('cpu')
    if not torch.cuda.is_available():
        raise OptionError(f'--gpu_ids {gpu_ids[0]}: CUDA is not available here (use --gpu_ids -1 for CPU)')
    return torch.device('cuda', gpu_ids[0])


def main(argv: Optional[Sequence[str]] = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    if '--fake_dir' not in argv and any(a == '--name' or a.startswith('--name=') for a in argv):
        raise OptionError('evaluating an experiment by --name is not supported by this evaluate.py: run test.py, '
                          'then give its folders with --fake_dir and --real_dir')
    opt = folder_parser(argv).parse_args(argv)
    results = evaluate_folders(opt.fake_dir, opt.real_dir, opt.label_dir, dataset_mode=opt.dataset_mode,
                               settings=settings_from_opt(opt), device=device_of(parse_gpu_ids(opt.gpu_ids)))
    print(format_table(results))
    out = opt.out or default_output_path(opt.fake_dir)
    write_metrics(results, out)
    print(f'metrics written to {out}')
    return results


if __name__ == '__main__':
    run_cli(main, PROG)
