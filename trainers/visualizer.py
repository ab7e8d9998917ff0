"""Training monitoring: TensorBoard (always on), SPADE's ``loss_log.txt`` and console lines.

Only rank 0 creates a Visualizer; other ranks log nothing.
"""
import argparse
import os
import time

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter

from data.conventions import label_image
from runs import layout
from runs.layout import tensorboard_dir
from util import util
from util.errors import OptionError, UserError


class Visualizer:
    def __init__(self, opt: argparse.Namespace) -> None:
        self.opt = opt
        self.log_name = layout.file_in(opt, layout.LOSS_LOG)
        try:
            os.makedirs(os.path.dirname(self.log_name), exist_ok=True)
            with open(self.log_name, 'a') as log_file:
                log_file.write(f'================ Training Loss ({time.strftime("%c")}) ================\n')
            if os.path.exists(tensorboard_dir(opt)) and not os.path.isdir(tensorboard_dir(opt)):
                raise NotADirectoryError(20, 'not a folder', tensorboard_dir(opt))
            self.writer = SummaryWriter(tensorboard_dir(opt))
        except OSError as exc:
            raise OptionError(f'cannot write the training logs: {exc.filename or self.log_name}: '
                              f'{exc.strerror or exc} (see --checkpoints_dir, --name, --tb_dir)')
        print(f'TensorBoard: tensorboard --logdir {tensorboard_dir(opt)}')

    def print_current_errors(self, epoch: int, epoch_images: int, errors: dict, t: float) -> str:
        """SPADE's console and loss_log.txt line (SPADE's 'iters' counts the epoch's images)."""
        message = f'(epoch: {epoch}, iters: {epoch_images}, time: {t:.3f}) '
        message += ''.join(f'{k}: {float(v):.3f} ' for k, v in errors.items())
        try:
            with open(self.log_name, 'a') as log_file:
                log_file.write(message + '\n')
        except OSError as exc:
            raise UserError(f'cannot write the training log {self.log_name}: {exc.strerror or exc}; the last '
                              'snapshot is intact: make room and resume with --continue_train')
        return message

    def plot_scalars(self, scalars: dict, step: int, prefix: str = '') -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(prefix + tag, float(value), step)

    def display_current_results(self, label: torch.Tensor, fake: torch.Tensor, real: torch.Tensor, step: int,
                                max_images: int = 4) -> np.ndarray:
        """Logs a grid: one row per sample, (colourised label | synthesized | real)."""
        rows = []
        for b in range(min(max_images, fake.size(0))):
            rows.append(np.concatenate([label_image(label[b], self.opt), util.tensor2im(fake[b]),
                                        util.tensor2im(real[b])], axis=1))
        grid = np.concatenate(rows, axis=0)
        self.writer.add_image('label|synthesized|real', grid, step, dataformats='HWC')
        return grid

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
