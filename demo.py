"""``make demo``: train MoNCE on the built-in synthetic dataset on the CPU for a few minutes, then
run test.py and evaluate.py on its test split, printing each command as a user would type it.

Without pretrained VGG19 weights in the torch hub cache (no network here) the contrastive loss
runs on an untrained VGG19 (``--vgg_weights random``); the demo says so. FID is reported only
where pytorch-fid's Inception weights are available; mIoU and pixel accuracy come from the
synthetic dataset's exact oracle segmenter.
"""
import json
import os
import shlex
import subprocess
import sys
import time

from evaluation.fid import inception_weights_available
from experiments import study_plan
from models.networks.vgg import torchvision_weights_file
from runs import layout

NAME = 'demo'
SIZE = 64
# the loss study's regime (experiments/study_plan.py: where textures start within minutes) and its
# monce configuration, with the demo's own name, logging and test set
COMMON = ['--name', NAME, '--dataset_mode', 'synthetic', '--crop_size', str(SIZE), '--load_size', str(SIZE),
          '--ngf', '16', '--spade_hidden', '64', '--norm_G', 'spectralspadebatch3x3', '--gpu_ids', '-1']
TRAIN = [*shlex.split(study_plan.COMMON), *shlex.split(study_plan.CONFIGS['monce']),
         '--save_epoch_freq', '5', '--save_latest_freq', '960', '--print_freq', '240', '--display_freq', '480']
# what more training gives, measured (docs/results.md, "Learning curves")
LONGER_RUN = ("the loss study's monce_s0, trained on, reached texture error 0.50 after 4,800 images, 0.41 "
              "after 5,760 and 0.34 (oracle mIoU 98.8%) after 19,200 (two hours on one core)")
TEST = ['--synthetic_test_size', '32', '--batchSize', '8']


def vgg_weights_option() -> list[str]:
    _, path = torchvision_weights_file()
    if os.path.isfile(path):
        print(f'Using the ImageNet VGG19 from {path}.')
        return []
    print(f'No pretrained VGG19 in the torch hub cache ({path}) and no network: the demo trains MoNCE on an '
          'UNTRAINED VGG19 (--vgg_weights random). Real training needs the ImageNet weights.')
    return ['--vgg_weights', 'random']


def metrics_option() -> list[str]:
    if inception_weights_available():
        return []
    print('No pytorch-fid Inception weights available offline: FID is left out; mIoU and pixel accuracy come '
          "from the synthetic dataset's exact oracle segmenter.")
    return ['--metrics', 'miou,swd,texture']


def reached(metrics_file: str) -> str:
    """What the demo's model learned, in the texture error's words, and what more training gives."""
    with open(metrics_file, encoding='utf-8') as f:
        error = json.load(f).get('texture_error')
    if error is None:
        return f'No texture error in {metrics_file}.'
    verdict = ('flat colour: no texture yet' if error >= 0.95 else
               'the classes\' textures are appearing' if error > 0.5 else 'most of the classes\' textures learned')
    return (f'  texture error: {error:.3f} (1 = flat colour, 0 = the real textures): {verdict}.\n'
            f'  A longer run learns more: {LONGER_RUN}; see docs/results.md.')


def run(script: str, args: list[str]) -> None:
    command = [sys.executable, script] + args
    print(f'\n$ python {script} ' + ' '.join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    start = time.time()
    train_args = COMMON + TRAIN + vgg_weights_option()
    run_dir = os.path.join('checkpoints', NAME)
    if os.path.exists(os.path.join(run_dir, 'latest_train_state.pth')):
        train_args += ['--continue_train']  # a demo interrupted earlier picks up where it stopped
    elif layout.trained_files(run_dir):
        train_args += ['--overwrite_run']  # stopped before its first snapshot: nothing to resume
    run('train.py', train_args)
    run('test.py', COMMON + TEST)
    run('evaluate.py', ['model'] + COMMON + TEST + metrics_option())
    results = os.path.join('results', NAME, 'test_latest')
    print(f'\nDone in {(time.time() - start) / 60:.1f} min.')
    print(reached(os.path.join(results, 'metrics.json')))
    print(f'  images:      {os.path.join(results, "index.html")} (input_label | synthesized_image | real_image)')
    print(f'  metrics:     {os.path.join(results, "metrics.json")}')
    print(f'  checkpoints: {os.path.join("checkpoints", NAME)}')
    print(f'  TensorBoard: tensorboard --logdir {os.path.join("checkpoints", NAME, "tensorboard")}')


if __name__ == '__main__':
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
