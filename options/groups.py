"""Option groups that several commands share, each defined once; the option classes compose them.

==================  ======================================================  =========================
group               options                                                 commands
==================  ======================================================  =========================
precision           ``--amp``, ``--channels_last``                          train.py, test.py, app.py,
                                                                            ``evaluate.py model``
checkpoint          ``--which_epoch`` (+ ``--no_ema`` for inference)        train.py, test.py, app.py,
                                                                            export.py, ``evaluate.py model``
evaluation          the metric options (:mod:`evaluation.options`)          train.py, test.py, evaluate.py
SPADE no-ops        ``--no_html``, ``--tf_log``, ``--optimizer``,           train.py
                    ``--netD_subarch``
==================  ======================================================  =========================

A command's namespace therefore holds every option its code reads: nothing needs a default for
an option that might be missing.
"""
import argparse

from util.precision import AMP_CHOICES, Precision

# the one place that says what SPADE's no-op options do here (README, "Training", lists them too)
SPADE_NO_OP = 'accepted for SPADE compatibility, changes nothing here'


def add_precision_options(parser: argparse.ArgumentParser) -> None:
    """How the networks run (:mod:`util.precision`); checked by :func:`check_precision`."""
    parser.add_argument('--amp', type=str, default='none', choices=AMP_CHOICES,
                        help='mixed precision: the networks under autocast in bf16 (CPU or GPU) or fp16 (GPU only); '
                             'training keeps the contrastive losses and OT in float32, and images change slightly')
    parser.add_argument('--channels_last', action='store_true',
                        help='channels-last memory format for the networks and their input (faster convs on GPU); '
                             'float32 images may change in rare pixels where those kernels round differently')


def check_precision(opt: argparse.Namespace) -> None:
    """Refuses a precision the devices of ``--gpu_ids`` cannot run (fp16 on the CPU)."""
    Precision.of(opt).check_gpu_ids(opt.gpu_ids)


def add_checkpoint_options(parser: argparse.ArgumentParser, use: str, inference: bool) -> None:
    """Which snapshot of the run ``use`` names (e.g. 'test'); with ``inference``, which generator."""
    best = ', or "best" (the generator --eval_freq kept)' if inference else ''
    parser.add_argument('--which_epoch', type=str, default='latest',
                        help=f'which epoch to {use}: "latest" for the latest checkpoint, an epoch number{best}')
    if inference:
        parser.add_argument('--no_ema', action='store_true',
                            help=f'{use} the raw generator even where training saved an EMA copy '
                                 '(<epoch>_net_G_ema.pth)')


def add_spade_no_op_options(parser: argparse.ArgumentParser) -> None:
    """SPADE's training options that change nothing here, so that SPADE command lines run as they are."""
    parser.add_argument('--no_html', action='store_true',
                        help=f'{SPADE_NO_OP}: training writes no web page (images go to TensorBoard)')
    parser.add_argument('--tf_log', action='store_true',
                        help=f'{SPADE_NO_OP}: TensorBoard logging is always on')
    parser.add_argument('--optimizer', type=str, default='adam', choices=('adam',),
                        help=f"{SPADE_NO_OP}: Adam is SPADE's only optimiser")
    parser.add_argument('--netD_subarch', type=str, default='n_layer', choices=('n_layer',),
                        help=f"{SPADE_NO_OP}: each scale of --netD multiscale is SPADE's only n_layer discriminator")
