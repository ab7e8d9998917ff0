"""Scores every epoch snapshot of one study run on the test split, once.

Results go to ``<run>/study_metrics.jsonl`` (one line per epoch; an epoch already there is not
scored again, so an interrupted study re-scores nothing), the same numbers to the run's
TensorBoard folder as ``eval/*`` at the number of training images, and the first test images
as generated at that epoch to ``<run>/study_samples/epoch_<E>.png`` (for the report's grid).
"""
import json
import os
import time
from typing import Optional

import numpy as np
import torch
from PIL import Image

from evaluation.fid import inception_weights_available
from evaluation.generator_eval import GeneratorEvaluator, generator_function
from evaluation.images import to_uint8
from experiments.study_plan import Run, runs_dir, tensorboard_dir
from models.pix2pix_model import Pix2PixModel
from options.test_options import TestOptions
from runs import layout, snapshot
from util.fileio import atomic_open, atomic_write_text
from util.state_dict import read_state_dict

METRICS_FILE = 'study_metrics.jsonl'
SAMPLES_DIR = 'study_samples'
SAMPLE_COUNT = 6  # test images kept per epoch for the side-by-side grid
STUDY_METRICS = ('miou', 'swd', 'texture')  # FID joins them when Inception weights are present


def run_folder(out: str, run: Run) -> str:
    return os.path.join(runs_dir(out), run.name)


def study_metrics() -> str:
    """The metrics to compute: never FID without real Inception weights (it is not faked)."""
    metrics = STUDY_METRICS + (('fid',) if inception_weights_available() else ())
    return ','.join(metrics)


def read_results(folder: str) -> list[dict]:
    """The scored epochs of a run, in epoch order (a line cut by a crash is ignored)."""
    path = os.path.join(folder, METRICS_FILE)
    rows: dict[int, dict] = {}
    try:
        with open(path, encoding='utf-8') as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                rows[int(row['epoch'])] = row
    except FileNotFoundError:
        return []
    return [rows[e] for e in sorted(rows)]


def epoch_tags(folder: str) -> list[int]:
    tags = layout.tags_with(folder, 'G') | layout.tags_with(folder, 'G_ema')
    return sorted(int(t) for t in tags if t.isdigit())


def images_seen(folder: str, epoch: int, known: dict[int, int]) -> int:
    """Training images before this epoch's snapshot: as an earlier score recorded them (the
    train state of a scored epoch is pruned), else as the epoch's train state holds them."""
    if epoch in known:
        return known[epoch]
    return int(read_state_dict(layout.state_file(folder, epoch), 'train state')['total_images'])


def prune(folder: str) -> int:
    """The study's policy once a run is over: every scored epoch keeps only its inference files
    (so it can be scored again), the ``previous`` fallback goes, ``latest`` stays for training
    on. Returns the bytes freed: a 15-run study keeps about a third of what training wrote."""
    scored = sorted(row['epoch'] for row in read_results(folder))
    return snapshot.delete_snapshot(folder, 'previous') + snapshot.prune_to_inference(folder, scored)


def unscored_epochs(folder: str) -> list[int]:
    """Epoch snapshots without a score from today's metrics: an epoch scored with fewer
    (say before Inception weights were installed) is scored again."""
    metrics = study_metrics()
    done = {row['epoch'] for row in read_results(folder) if row.get('metrics') == metrics}
    return [e for e in epoch_tags(folder) if e not in done]


def evaluate_run(out: str, run: Run, gpu_ids: str = '-1') -> list[dict]:
    """Scores the run's epochs that have no result yet; returns all its results."""
    folder = run_folder(out, run)
    todo = unscored_epochs(folder)
    if todo:
        _score_epochs(out, run, folder, todo, gpu_ids, study_metrics())
    return read_results(folder)


def _score_epochs(out: str, run: Run, folder: str, epochs: list[int], gpu_ids: str, metrics: str) -> None:
    opt = TestOptions().parse(['--name', run.name, '--checkpoints_dir', runs_dir(out), '--load_from_opt_file',
                               '--phase', 'test', '--which_epoch', str(epochs[0]), '--gpu_ids', gpu_ids,
                               '--metrics', metrics, '--nThreads', '0'], verbose=False)
    model = Pix2PixModel(opt).eval()
    evaluator = GeneratorEvaluator(opt, 'test', model.device, model.preprocess_input)
    writer = _tensorboard(out, run)
    known = {row['epoch']: row['total_images'] for row in read_results(folder)}
    try:
        for epoch in epochs:
            model.load(epoch)
            start = time.time()
            scores = evaluator.score(generator_function(model.netG, model.netE))
            row = {'epoch': epoch, 'total_images': images_seen(folder, epoch, known), 'metrics': metrics,
                   'seconds': round(time.time() - start, 2),
                   **{k: v for k, v in scores.items() if isinstance(v, (int, float))}}
            _save_samples(model, evaluator, os.path.join(folder, SAMPLES_DIR, f'epoch_{epoch}.png'))
            _append(os.path.join(folder, METRICS_FILE), row)
            if writer is not None:
                for key, value in row.items():
                    if key not in ('epoch', 'total_images', 'seconds', 'num_images') and isinstance(value, (int, float)):
                        writer.add_scalar(f'eval/{key}', value, row['total_images'])
                writer.flush()
    finally:
        if writer is not None:
            writer.close()


def _tensorboard(out: str, run: Run):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the study still works; only the TensorBoard curves are missing
        return None
    return SummaryWriter(os.path.join(tensorboard_dir(out), run.name))


@torch.no_grad()
def _save_samples(model: Pix2PixModel, evaluator: GeneratorEvaluator, path: str) -> None:
    """The first test images as this epoch generates them, side by side, as 8-bit files."""
    batch = next(iter(evaluator.loader()))
    batch = {k: (v[:SAMPLE_COUNT] if torch.is_tensor(v) else v) for k, v in batch.items()}
    fake = model(batch, mode='inference')
    strip = to_uint8(fake).permute(0, 2, 3, 1).cpu().numpy()  # (B,H,W,3)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_open(path, durable=False) as f:
        Image.fromarray(np.concatenate(list(strip), axis=1)).save(f, format='PNG')


def _append(path: str, row: dict) -> None:
    """Rewrites the file with the new line: never a half-written results file."""
    text = ''
    if os.path.isfile(path):
        with open(path, encoding='utf-8') as f:
            text = f.read()
        if text and not text.endswith('\n'):
            text += '\n'
    atomic_write_text(path, text + json.dumps(row) + '\n')


def load_samples(folder: str, epoch: Optional[int] = None) -> Optional[np.ndarray]:
    """(N,H,W,3) uint8 samples of ``epoch`` (default: the last scored), or None."""
    rows = read_results(folder)
    if not rows:
        return None
    epoch = rows[-1]['epoch'] if epoch is None else epoch
    path = os.path.join(folder, SAMPLES_DIR, f'epoch_{epoch}.png')
    if not os.path.isfile(path):
        return None
    strip = np.asarray(Image.open(path).convert('RGB'))
    size = strip.shape[0]
    return np.stack(np.split(strip, strip.shape[1] // size, axis=1))
