"""Metrics of generated images: FID, mIoU / pixel accuracy, SWD (see evaluation/README.md).

Of a trained model (generates the split with the EMA generator when one was saved):

    python evaluate.py --name NAME --dataset_mode ade20k --dataroot datasets/ADEChallengeData2016 \\
                       --seg_weights ckpt/ade20k-resnet101-upernet [--which_epoch latest] [--out FILE]

Of image folders, paired by name (stem):

    python evaluate.py --fake_dir results/NAME/test_latest/images/synthesized_image \\
                       --real_dir results/NAME/test_latest/images/real_image \\
                       [--label_dir datasets/ADEChallengeData2016/annotations/validation] \\
                       [--dataset_mode ade20k --seg_weights ckpt/ade20k-resnet101-upernet] [--out FILE]

Prints a table and writes ``metrics.json`` (beside the results, or to ``--out``).
"""
import math
import os
import sys
from typing import Optional, Sequence

import torch

from evaluation.generator_eval import GeneratorEvaluator, generator_function
from evaluation.images import printable
from evaluation.options import modify_commandline_options, settings_from_opt
from evaluation.report import check_output_path, default_output_path, format_table, write_metrics
from evaluation.run import evaluate_folders
from options.base_options import OptionParser, parse_gpu_ids
from options.test_options import TestOptions
from util.entry import run_cli
from util.errors import OptionError
from util.inference import results_dir

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


class EvaluateOptions(TestOptions):
    """test.py's options (the experiment, its dataset and split) plus ``--out``."""

    def initialize(self, parser: OptionParser) -> OptionParser:
        super().initialize(parser)
        parser.add_argument('--out', type=str, default=None,
                            help='where to write the metrics [default: results_dir/name/phase_epoch/metrics.json]')
        return parser

    def prog(self) -> str:
        return PROG


def device_of(gpu_ids: list[int]) -> torch.device:
    if not gpu_ids:
        return torch.device('cpu')
    if not torch.cuda.is_available():
        raise OptionError(f'--gpu_ids {gpu_ids[0]}: CUDA is not available here (use --gpu_ids -1 for CPU)')
    return torch.device('cuda', gpu_ids[0])


def output_path(given: Optional[str], default: str) -> str:
    """Where metrics.json goes; checked now, so that a bad path fails before the evaluation."""
    check_output_path(given or default, '--out' if given else 'the output file')
    return given or default


def evaluate_folders_cli(argv: Sequence[str]) -> tuple[dict, str]:
    opt = folder_parser(argv).parse_args(argv)
    out = output_path(opt.out, default_output_path(opt.fake_dir))
    results = evaluate_folders(opt.fake_dir, opt.real_dir, opt.label_dir, dataset_mode=opt.dataset_mode,
                               settings=settings_from_opt(opt), device=device_of(parse_gpu_ids(opt.gpu_ids)))
    return results, out


def evaluate_experiment(argv: Sequence[str]) -> tuple[dict, str]:
    from models.pix2pix_model import Pix2PixModel
    opt = EvaluateOptions().parse(argv, verbose=False)
    out = output_path(opt.out, os.path.join(results_dir(opt), 'metrics.json'))
    model = Pix2PixModel(opt).eval()
    how_many = None if math.isinf(opt.how_many) else int(opt.how_many)
    evaluator = GeneratorEvaluator(opt, opt.phase, model.device, model.preprocess_input, max_images=how_many)
    torch.manual_seed(opt.seed)  # the VAE's prior samples repeat
    results = evaluator.score(generator_function(model, model.netG, model.netE), progress=True)
    results['info'] = {'name': opt.name, 'which_epoch': opt.which_epoch, 'phase': opt.phase,
                       'dataset_mode': opt.dataset_mode, 'metrics': list(evaluator.suite.metrics)}
    return results, out


def main(argv: Optional[Sequence[str]] = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    # either folder option means folder mode, so that a missing partner is named as such
    folders = any(a.split('=', 1)[0] in ('--fake_dir', '--real_dir') for a in argv)
    results, out = evaluate_folders_cli(argv) if folders else evaluate_experiment(argv)
    print(format_table(results))
    write_metrics(results, out)
    print(f'metrics written to {printable(out)}')
    return results


if __name__ == '__main__':
    run_cli(main, PROG)
