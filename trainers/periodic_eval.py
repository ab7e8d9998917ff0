"""``--eval_freq``: scores the (EMA) generator on the validation split during training, logs the
numbers and keeps the best generator as ``best_net_G.pth`` (lowest FID; highest mIoU when FID
is not computed)."""
import argparse
import math
import operator
from typing import Optional

from evaluation.generator_eval import GeneratorEvaluator, generator_function
from evaluation.options import eval_frequency
from evaluation.report import format_number
from runs import layout, snapshot
from runs.networks import cpu_state_dict
from trainers.distributed import Context, barrier
from trainers.pix2pix_trainer import Pix2PixTrainer
from util.errors import CheckpointError

VALIDATION_PHASE = 'val'


class PeriodicEvaluator:
    def __init__(self, opt: argparse.Namespace, ctx: Context, trainer: Pix2PixTrainer) -> None:
        self.opt, self.ctx, self.trainer = opt, ctx, trainer
        self.frequency = eval_frequency(opt)
        self.best: dict = {}
        self.evaluator: Optional[GeneratorEvaluator] = None
        if ctx.is_main:  # one process scores; the others wait at a barrier
            self.evaluator = GeneratorEvaluator(opt, VALIDATION_PHASE, ctx.device, trainer.encode,
                                                max_images=opt.eval_num)

    def due_after_images(self, total_images: int) -> bool:
        return self.frequency.due_after_images(total_images - self.opt.batchSize, total_images)

    def due_after_epoch(self, epoch: int) -> bool:
        return self.frequency.due_after_epoch(epoch)

    def run(self, total_images: int, epoch: int) -> Optional[dict]:
        result = None
        if self.evaluator is not None:
            generate = generator_function(self.trainer.inference_generator(), self.trainer.nets.netE)
            result = {k: v for k, v in self.evaluator.score(generate).items() if isinstance(v, (int, float))}
            print(f'evaluation in epoch {epoch}, after {total_images} images: ' +
                  ', '.join(f'{k} {format_number(v)}' for k, v in result.items()))
            if self.improves(result):
                self.save_best(dict(result, epoch=epoch, total_images=total_images))
        barrier(self.ctx)
        return result

    def improves(self, result: dict) -> bool:
        # a metric the images do not define (NaN) is never a best: NaN would also compare
        # False with every later value and keep a worse generator as the best for good
        for key, better in (('fid', operator.lt), ('miou', operator.gt)):
            if key in result:
                value = result[key]
                return not math.isnan(value) and (key not in self.best or better(value, self.best[key]))
        return False

    def save_best(self, best: dict) -> None:
        try:
            snapshot.save_best(layout.run_dir(self.opt), cpu_state_dict(self.trainer.inference_generator()), best)
        except OSError as exc:
            raise CheckpointError(f'could not save the best generator: {exc.filename or layout.run_dir(self.opt)}: '
                                  f'{exc.strerror or exc}; make room and resume with --continue_train')
        self.best = best
