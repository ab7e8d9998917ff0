"""``--eval_freq``: scores the (EMA) generator on the validation split during training, logs the
numbers and keeps the best generator as ``best_net_G.pth`` (lowest FID; highest mIoU when FID
is not computed)."""
import argparse
import json
import os
from typing import Optional

from evaluation.generator_eval import GeneratorEvaluator, generator_function
from evaluation.options import eval_frequency
from trainers.distributed import Context, barrier
from util.checkpoint import cpu_state_dict
from util.errors import CheckpointError
from util.fileio import atomic_torch_save, atomic_write_text

VALIDATION_PHASE = 'val'


class PeriodicEvaluator:
    def __init__(self, opt: argparse.Namespace, ctx: Context, trainer) -> None:
        self.opt, self.ctx, self.trainer = opt, ctx, trainer
        self.frequency = eval_frequency(opt)
        self.best: dict = {}
        self.last_images = 0
        self.evaluator: Optional[GeneratorEvaluator] = None
        if ctx.is_main:  # one process scores; the others wait at a barrier
            self.evaluator = GeneratorEvaluator(opt, VALIDATION_PHASE, ctx.device, trainer.model.preprocess_input,
                                                max_images=opt.eval_num)

    def due_after_iteration(self, progress) -> bool:
        return self.frequency.due_after_iterations(progress.total_steps - self.opt.batchSize, progress.total_steps)

    def due_after_epoch(self, epoch: int) -> bool:
        return self.frequency.due_after_epoch(epoch)

    def run(self, progress, epoch: int) -> Optional[dict]:
        result = None
        if self.evaluator is not None:
            generate = generator_function(self.trainer.model, self.trainer.inference_generator(),
                                          self.trainer.model.netE)
            result = {k: v for k, v in self.evaluator.score(generate).items() if isinstance(v, (int, float))}
            print(f'evaluation in epoch {epoch}, after {progress.total_steps} images: ' +
                  ', '.join(f'{k} {v:.4g}' for k, v in result.items()))
            if self.improves(result):
                self.save_best(result, progress, epoch)
        barrier(self.ctx)
        return result

    def improves(self, result: dict) -> bool:
        if 'fid' in result:
            return 'fid' not in self.best or result['fid'] < self.best['fid']
        if 'miou' in result:
            return 'miou' not in self.best or result['miou'] > self.best['miou']
        return False

    def save_best(self, result: dict, progress, epoch: int) -> None:
        run_dir = os.path.join(self.opt.checkpoints_dir, self.opt.name)
        best = dict(result, epoch=epoch, total_steps=progress.total_steps)
        try:
            atomic_torch_save(cpu_state_dict(self.trainer.inference_generator()), os.path.join(run_dir, 'best_net_G.pth'))
            atomic_write_text(os.path.join(run_dir, 'best_metrics.json'), json.dumps(best, indent=2) + '\n')
        except OSError as exc:
            raise CheckpointError(f'could not save the best generator: {exc.filename or run_dir}: '
                                  f'{exc.strerror or exc}; make room and resume with --continue_train')
        self.best = best
