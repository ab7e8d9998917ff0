"""Validation of parsed options: each problem becomes one clear :class:`OptionError` line."""
import argparse
import math
import re

from util.errors import OptionError

SPADE_NORM = re.compile(r'^(spectral)?spade(instance|batch|syncbatch)(\d+)x\d+$')
PLAIN_NORM = re.compile(r'^(spectral)?(instance|batch|sync_batch|syncbatch|none)?$')
UPSAMPLING_LAYERS = {'normal': 5, 'more': 6, 'most': 7}


def validate(opt: argparse.Namespace) -> None:
    _check_positive(opt, 'batchSize', 'label_nc', 'output_nc', 'ngf', 'crop_size', 'load_size', 'z_dim')
    if opt.isTrain:
        validate_training(opt)
    if opt.nef is not None:
        _check_positive(opt, 'nef')
    if opt.aspect_ratio <= 0:
        raise OptionError(f'--aspect_ratio must be > 0, got {opt.aspect_ratio}')
    if opt.max_dataset_size < 1:
        raise OptionError(f'--max_dataset_size must be >= 1, got {opt.max_dataset_size}')
    if opt.nThreads < 0:
        raise OptionError(f'--nThreads must be >= 0, got {opt.nThreads}')
    _check_norms(opt)
    if opt.netG == 'spade':
        _check_positive(opt, 'spade_hidden')
        _check_spade_size(opt)
    elif opt.use_vae:
        raise OptionError(f'--use_vae needs --netG spade (got --netG {opt.netG})')
    num_gpus = len(opt.gpu_ids)
    if num_gpus > 0 and opt.batchSize % num_gpus != 0:
        raise OptionError(f'--batchSize {opt.batchSize} must be a multiple of the number of GPUs '
                          f'({num_gpus}: --gpu_ids {",".join(map(str, opt.gpu_ids))})')


def validate_training(opt: argparse.Namespace) -> None:
    """Values that parse but would crash or do nothing later (e.g. after a whole epoch)."""
    _check_positive(opt, 'print_freq', 'display_freq', 'save_latest_freq', 'save_epoch_freq', 'D_steps_per_G', 'ndf')
    for name in ('niter', 'niter_decay', 'ema_start'):
        if getattr(opt, name) < 0:
            raise OptionError(f'--{name} must be >= 0, got {getattr(opt, name)}')
    if opt.niter + opt.niter_decay < 1:
        raise OptionError(f'--niter {opt.niter} with --niter_decay {opt.niter_decay} leaves no epoch to train; '
                          'their sum is the number of epochs')
    if not (math.isfinite(opt.lr) and opt.lr > 0):
        raise OptionError(f'--lr must be a positive number, got {opt.lr}')
    for name in ('beta1', 'beta2'):
        if not 0 <= getattr(opt, name) < 1:
            raise OptionError(f'--{name} must be in [0, 1), got {getattr(opt, name)}')
    for name in ('lambda_feat', 'lambda_vgg', 'lambda_kld', 'max_loss'):
        if not (math.isfinite(getattr(opt, name)) and getattr(opt, name) >= 0):
            raise OptionError(f'--{name} must be a finite number >= 0, got {getattr(opt, name)}')
    if not 0 <= opt.ema_decay <= 1:
        raise OptionError(f'--ema_decay must be in [0, 1], got {opt.ema_decay}')
    _check_contradictions(opt)


def _check_contradictions(opt: argparse.Namespace) -> None:
    if opt.no_vgg_loss and opt.perceptual_loss != 'vgg':
        raise OptionError(f'--no_vgg_loss switches the perceptual loss off, so --perceptual_loss '
                          f'{opt.perceptual_loss} would do nothing; drop one of the two')
    if opt.continue_train and opt.overwrite_run:
        raise OptionError('--continue_train resumes a run and --overwrite_run deletes it; choose one')


def _check_positive(opt: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(opt, name)
        if value < 1:
            raise OptionError(f'--{name} must be >= 1, got {value}')


def _check_norms(opt: argparse.Namespace) -> None:
    if opt.netG == 'spade' and not SPADE_NORM.match(opt.norm_G):
        raise OptionError(f"--norm_G '{opt.norm_G}' is not a SPADE norm: expected "
                          "[spectral]spade{instance,batch,syncbatch}KxK, e.g. spectralspadesyncbatch3x3")
    if opt.netG != 'spade' and not PLAIN_NORM.match(opt.norm_G):
        raise OptionError(f"--norm_G '{opt.norm_G}' is not recognised: expected "
                          "[spectral]{instance,batch,sync_batch,none}, e.g. spectralinstance")
    for name in ('norm_D', 'norm_E'):
        value = getattr(opt, name)
        if not PLAIN_NORM.match(value):
            raise OptionError(f"--{name} '{value}' is not recognised: expected "
                              "[spectral]{instance,batch,sync_batch,none}, e.g. spectralinstance")


def _check_spade_size(opt: argparse.Namespace) -> None:
    layers = UPSAMPLING_LAYERS.get(opt.num_upsampling_layers)
    if layers is None:
        raise OptionError('--num_upsampling_layers must be one of normal, more, most')
    factor = 2 ** layers
    if opt.crop_size % factor != 0:
        raise OptionError(f'--crop_size {opt.crop_size} must be a multiple of {factor} with '
                          f'--num_upsampling_layers {opt.num_upsampling_layers} (the generator '
                          f'upsamples {layers} times from a {factor}x smaller map)')
    width = opt.crop_size // factor
    height = round(width / opt.aspect_ratio)
    if height < 1 or abs(height * opt.aspect_ratio - width) > 1e-6 * width:
        raise OptionError(f'--aspect_ratio {opt.aspect_ratio} with --crop_size {opt.crop_size} gives a '
                          f'non-integer {width}/{opt.aspect_ratio} starting height; choose a ratio that divides '
                          f'{width}')
