"""Metrics of generated images: FID, mIoU / pixel accuracy, SWD, the built-in dataset's texture
error (see evaluation/README.md).

Two modes, named by the first word of the command line:

    python evaluate.py model --name NAME --dataset_mode ade20k --dataroot datasets/ADEChallengeData2016 \\
                       --seg_weights ckpt/ade20k-resnet101-upernet [--which_epoch latest] [--out FILE]

generates the split with the trained generator (the EMA copy when one was saved) and scores it in
memory;

    python evaluate.py folders --fake_dir results/NAME/test_latest/images/synthesized_image \\
                       --real_dir results/NAME/test_latest/images/real_image \\
                       [--label_dir datasets/ADEChallengeData2016/annotations/validation] \\
                       [--dataset_mode ade20k --seg_weights ckpt/ade20k-resnet101-upernet] [--out FILE]

scores image folders, paired by name (stem). The word may be left out, as in earlier versions:
the mode is then ``folders`` when ``--fake_dir`` or ``--real_dir`` is given, ``model`` otherwise.

Prints a table and writes ``metrics.json`` (beside the results, or to ``--out``).
"""
import argparse
import math
import os
import sys
import textwrap
from typing import Iterable, Optional, Sequence

import torch

from evaluation.images import printable
from evaluation.options import modify_commandline_options, settings_from_opt
from evaluation.report import check_output_path, default_output_path, format_table, write_metrics
from options.base_options import OptionParser, parse_gpu_ids
from options.test_options import TestOptions
from util.entry import run_cli
from util.errors import OptionError

PROG = 'evaluate.py'
MODEL, FOLDERS = 'model', 'folders'
MODES = {MODEL: 'score a trained generator', FOLDERS: 'score image folders'}
# without a mode word these name the folders mode (the command lines of earlier versions)
FOLDER_OPTIONS = ('--fake_dir', '--real_dir')
HELP = ('-h', '--help')


def folder_parser(argv: Sequence[str]) -> OptionParser:
    parser = OptionParser(argv, prog=f'{PROG} {FOLDERS}',
                          description=f'{MODES[FOLDERS].capitalize()}: generated images against real images, '
                                      f'paired by file name. The mode word may be left out when --fake_dir is '
                                      f'given; {PROG} --help describes both modes.')
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
        parser.description = (f'{MODES[MODEL].capitalize()}: generates a split as test.py does and scores it '
                              f'in memory; the options are those of test.py. The mode word may be left out; '
                              f'{PROG} --help describes both modes.')
        parser.add_argument('--out', type=str, default=None,
                            help='where to write the metrics [default: results_dir/name/phase_epoch/metrics.json]')
        return parser

    def prog(self) -> str:
        return f'{PROG} {MODEL}'


def overview() -> str:
    """``evaluate.py --help``: both modes, the options of each, and where each mode's full list is."""
    metric = option_strings(modify_commandline_options(OptionParser([]), is_train=False))
    folder_only = [o for o in option_strings(folder_parser([])) if o not in metric + ['--out'] + list(HELP)]
    return (f'usage: {PROG} {MODEL} [--name NAME] [options of test.py] [metric options] [--out FILE]\n'
            f'       {PROG} {FOLDERS} --fake_dir DIR --real_dir DIR [--label_dir DIR] [--dataset_mode MODE]\n'
            f'                           [metric options] [--out FILE]\n\n'
            f'Metrics of generated images: FID, mIoU / pixel accuracy, SWD, texture error. Prints a table and writes '
            f'metrics.json\n(or --out FILE).\n\nmodes:\n'
            + described(MODEL, f'{MODES[MODEL]}: generates a split as test.py does (with the EMA generator when '
                               f'one was saved) and scores it in memory. Options: those of test.py (--name, '
                               f'--which_epoch, --dataroot, --dataset_mode, --phase, --how_many, '
                               f'--checkpoints_dir, --results_dir, --backend, ...). metrics.json goes to '
                               f'results_dir/name/phase_epoch/.')
            + described(FOLDERS, f'{MODES[FOLDERS]}: generated images against real images, paired by file '
                                 f'name. Options: {", ".join(folder_only)}. metrics.json goes in the parent '
                                 f'folder of --fake_dir.')
            + '\n' + described('', f'metric options, in both modes: {", ".join(metric)}.', indent=0)
            + '\n' + described('', f'The mode word may be left out: the mode is {FOLDERS} when '
                                    f'{" or ".join(FOLDER_OPTIONS)} is given, {MODEL} otherwise. '
                                    f'"{PROG} MODE --help" lists every option of a mode with its default.', indent=0))


def described(name: str, text: str, indent: int = 11) -> str:
    first = f'  {name:{indent - 2}}' if indent else ''
    return textwrap.fill(text, width=100, initial_indent=first, subsequent_indent=' ' * indent) + '\n'


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """The parser's option strings, in the order they were added."""
    return list(parser._option_string_actions)  # argparse has no public list of a parser's options


def model_option_strings(argv: Sequence[str]) -> set[str]:
    """Every option the model mode takes with this command line (the model's and the dataset's
    setters add theirs, as when it is parsed)."""
    options = EvaluateOptions()
    parser = options.initialize(OptionParser(argv, prog=options.prog()))
    for setter in options.option_setters(parser.peek()):
        setter(parser, options.is_train)
    return set(option_strings(parser))


def option_names(argv: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(arg.split('=', 1)[0] for arg in argv if arg.startswith('--')))


def takes(options: Iterable[str], name: str) -> bool:
    # argparse accepts any unambiguous prefix of an option
    return any(option.startswith(name) for option in options)


def refuse_options_of_other_mode(wrong: Sequence[str], other_mode: str, this_mode: str) -> None:
    """One line naming the options given that belong to the other mode only."""
    if wrong:
        verb = 'is an option' if len(wrong) == 1 else 'are options'
        raise OptionError(f"{', '.join(wrong)} {verb} of '{PROG} {other_mode}' ({MODES[other_mode]}), not of the "
                          f"{this_mode}; see {PROG} --help")


def choose_mode(argv: Sequence[str]) -> tuple[str, list[str], str]:
    """The mode, its arguments and how it was chosen (for messages)."""
    if argv[0] in MODES:
        return argv[0], list(argv[1:]), f"'{PROG} {argv[0]}' mode"
    if not argv[0].startswith('-'):  # neither mode takes positional arguments: a misspelt mode
        raise OptionError(f"unknown mode '{argv[0]}': choose {MODEL} or {FOLDERS} (see {PROG} --help)")
    given = [name for name in option_names(argv) if name in FOLDER_OPTIONS]
    if given:
        return FOLDERS, list(argv), f'{FOLDERS} mode (chosen by {given[0]})'
    return MODEL, list(argv), f'{MODEL} mode (chosen as neither {" nor ".join(FOLDER_OPTIONS)} is given)'


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


def evaluate_folders_cli(argv: Sequence[str], chosen: str = f'{FOLDERS} mode') -> tuple[dict, str]:
    parser = folder_parser(argv)
    unknown = [name for name in option_names(argv) if not takes(option_strings(parser), name)]
    if unknown:  # only then is the model mode's parser built, to name the options that belong there
        model_options = model_option_strings(argv)
        refuse_options_of_other_mode([name for name in unknown if takes(model_options, name)], MODEL, chosen)
    opt = parser.parse_args(argv)
    from evaluation import run  # pytorch-fid takes seconds to load: only once the options are right
    out = output_path(opt.out, default_output_path(opt.fake_dir))
    results = run.evaluate_folders(opt.fake_dir, opt.real_dir, opt.label_dir, dataset_mode=opt.dataset_mode,
                                   settings=settings_from_opt(opt), device=device_of(parse_gpu_ids(opt.gpu_ids)))
    return results, out


def evaluate_experiment(argv: Sequence[str], chosen: str = f'{MODEL} mode') -> tuple[dict, str]:
    # no dataset or network adds these, so they are the folders mode's alone
    refuse_options_of_other_mode([name for name in option_names(argv) if name in FOLDER_OPTIONS], FOLDERS, chosen)
    opt = EvaluateOptions().parse(argv, verbose=False)
    from inference.pipeline import results_dir  # loads the networks' modules: only once the options are right
    out = output_path(opt.out, os.path.join(results_dir(opt), 'metrics.json'))
    return score_generator(opt), out


def score_generator(opt: argparse.Namespace) -> dict:
    """Generates ``opt.phase`` with the run's generator and scores it in memory."""
    from evaluation.generator_eval import GeneratorEvaluator, generator_function  # loads pytorch-fid
    from inference.backends import backend_of, inference_model
    from models.pix2pix_model import Pix2PixModel
    model = inference_model(Pix2PixModel(opt).eval(), opt)  # --backend, as test.py
    how_many = None if math.isinf(opt.how_many) else int(opt.how_many)
    evaluator = GeneratorEvaluator(opt, opt.phase, model.device, model.preprocess_input, max_images=how_many)
    torch.manual_seed(opt.seed)  # the VAE's prior samples repeat
    results = evaluator.score(generator_function(model.netG, model.netE), progress=True)
    results['info'] = {'name': opt.name, 'which_epoch': opt.which_epoch, 'phase': opt.phase,
                       'dataset_mode': opt.dataset_mode, 'metrics': list(evaluator.suite.metrics),
                       'backend': backend_of(model)}
    return results


def main(argv: Optional[Sequence[str]] = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(overview(), file=sys.stderr)
        raise OptionError(f'give a mode and its options (usage above; {PROG} MODE --help lists a mode\'s options)')
    if argv[0] not in MODES and any(arg in HELP for arg in argv):
        print(overview(), end='')
        sys.exit(0)  # as argparse's --help does
    mode, args, chosen = choose_mode(argv)
    evaluate_mode = evaluate_folders_cli if mode == FOLDERS else evaluate_experiment
    results, out = evaluate_mode(args, chosen)
    print(format_table(results))
    write_metrics(results, out)
    print(f'metrics written to {printable(out)}')
    return results


if __name__ == '__main__':
    run_cli(main, PROG)
