"""make demo's command lines stay valid as options evolve (the demo itself is `make demo`)."""
import shlex

from experiments import study_plan
from options.test_options import TestOptions
from options.train_options import TrainOptions
import demo


def test_demo_command_lines_parse():
    train = TrainOptions().parse(demo.COMMON + demo.TRAIN + ['--vgg_weights', 'random'], save=False, verbose=False)
    assert (train.perceptual_loss, train.dataset_mode, train.crop_size, train.ema) == ('monce', 'synthetic', 64, True)
    test = TestOptions().parse(demo.COMMON + demo.TEST + ['--metrics', 'miou,swd'], verbose=False)
    assert (test.ngf, test.spade_hidden, test.norm_G, test.crop_size, test.load_size) == \
        (train.ngf, train.spade_hidden, train.norm_G, train.crop_size, train.load_size)
    # the study's regime and its monce configuration, however the regime changes
    regime = TrainOptions().parse([*shlex.split(study_plan.COMMON), *shlex.split(study_plan.CONFIGS['monce']),
                                   '--vgg_weights', 'random'], save=False, verbose=False)
    keys = ('batchSize', 'niter', 'niter_decay', 'lr', 'lambda_vgg', 'ngf', 'spade_hidden', 'ndf', 'num_D')
    assert [getattr(train, k) for k in keys] == [getattr(regime, k) for k in keys]


def test_the_demo_says_what_texture_it_reached(tmp_path):
    path = tmp_path / 'metrics.json'
    path.write_text('{"texture_error": 0.7123, "miou": 0.9}')
    said = demo.reached(str(path))
    assert 'texture error: 0.712' in said and 'appearing' in said and demo.LONGER_RUN in said
    path.write_text('{"texture_error": 0.99}')
    assert 'flat colour' in demo.reached(str(path))
