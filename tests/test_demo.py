"""make demo's command lines stay valid as options evolve (the demo itself is `make demo`)."""
from options.test_options import TestOptions
from options.train_options import TrainOptions
import demo


def test_demo_command_lines_parse():
    train = TrainOptions().parse(demo.COMMON + demo.TRAIN + ['--vgg_weights', 'random'], save=False, verbose=False)
    assert (train.perceptual_loss, train.dataset_mode, train.crop_size, train.ema) == ('monce', 'synthetic', 64, True)
    test = TestOptions().parse(demo.COMMON + demo.TEST + ['--metrics', 'miou,swd'], verbose=False)
    assert (test.ngf, test.norm_G, test.crop_size) == (train.ngf, train.norm_G, train.crop_size)
