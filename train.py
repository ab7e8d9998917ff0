"""Training, as SPADE's train.py: ``python train.py --name NAME --dataset_mode MODE --dataroot DIR``.

One GPU or the CPU: ``python train.py ...``; several GPUs: ``--gpu_ids 0,1,2,3`` (one process per
GPU is spawned) or ``torchrun --nproc_per_node 4 train.py ...``; several machines: torchrun's
``--nnodes/--node_rank/--rdzv_*`` (see the README).
"""
import os
import sys

from options.train_options import TrainOptions
from trainers import distributed
from trainers.loop import train
from util.entry import run_cli
from util.errors import UserError, user_message


def main() -> None:
    rank = int(os.environ.get('RANK', 0))
    options = TrainOptions()
    opt = options.parse(verbose=rank == 0)
    files = options.option_files()
    if len(opt.gpu_ids) > 1 and not distributed.launched_by_torchrun():
        status = distributed.spawn_per_gpu(_SpawnedTraining(opt, files), len(opt.gpu_ids))
    else:
        status = train(opt, files)
    sys.exit(status)


class _SpawnedTraining:
    """A picklable per-process entry point that reports user errors in one line."""

    def __init__(self, opt, option_files: dict) -> None:
        self.opt, self.option_files = opt, option_files

    def __call__(self) -> None:
        try:
            status = train(self.opt, self.option_files)
        except UserError as exc:
            print(f'train.py: error (rank {os.environ.get("RANK")}): {user_message(exc)}', file=sys.stderr)
            sys.exit(2)
        sys.exit(status)


if __name__ == '__main__':
    run_cli(main, 'train.py')
