"""Evaluation options: parsing, validation, settings, the training evaluation frequency."""
import pytest

from evaluation.options import (EvalFrequency, eval_frequency, modify_commandline_options, parse_eval_freq,
                                settings_from_opt)
from evaluation.settings import FID_DIMS, EvalSettings, applicable_metrics
from options.base_options import OptionParser
from util.errors import OptionError


def parse(argv, is_train=True):
    parser = modify_commandline_options(OptionParser(argv, prog='train.py'), is_train)
    return parser.parse_args(argv)


def test_defaults_give_default_settings():
    opt = parse([])
    settings = settings_from_opt(opt)
    assert settings == EvalSettings(fid_cache_dir=opt.fid_cache_dir)
    assert settings.metrics is None and settings.seg_scales is None and settings.fid_dims == 2048
    assert opt.eval_num == 500 and not eval_frequency(opt).enabled


def test_given_values_reach_the_settings():
    opt = parse(['--fid_weights', 'w.pth', '--fid_dims', '768', '--fid_cache_dir', '', '--seg_weights', 'ckpt',
                 '--seg_scales', '300,450', '--swd_seed', '3', '--eval_batch_size', '2', '--metrics', 'swd,FID'])
    assert settings_from_opt(opt) == EvalSettings(fid_weights='w.pth', fid_dims=768, fid_cache_dir='',
                                                  seg_weights='ckpt', seg_scales=(300, 450), swd_seed=3,
                                                  batch_size=2, metrics=('swd', 'fid'))
    assert opt.seg_scales == '300,450'  # opt keeps the text, so opt.json stays plain


def test_training_only_options_are_absent_at_test_time():
    opt = parse([], is_train=False)
    assert not hasattr(opt, 'eval_freq') and not hasattr(opt, 'eval_num')


@pytest.mark.parametrize('argv', [['--metrics', 'fid,lpips'], ['--seg_scales', '300,x'], ['--seg_scales', '0'],
                                  ['--eval_freq', 'often'], ['--eval_batch_size', '0'], ['--fid_dims', '100']])
def test_bad_values_are_option_errors(argv):
    with pytest.raises(OptionError) as info:
        parse(argv)
    assert argv[0] in str(info.value) and '\n' not in str(info.value)  # names the option, in one line


@pytest.mark.parametrize('text, expected', [('0', EvalFrequency(0, 'images')), ('5000', EvalFrequency(5000, 'images')),
                                            ('5000it', EvalFrequency(5000, 'images')), ('2e', EvalFrequency(2, 'epoch')),
                                            ('3 epochs', EvalFrequency(3, 'epoch'))])
def test_eval_freq_counts_iterations_or_epochs(text, expected):
    assert parse_eval_freq(text) == expected


def test_eval_freq_schedule():
    every_5000 = EvalFrequency(5000, 'images')
    assert every_5000.due_after_images(4999, 5000)
    assert every_5000.due_after_images(4992, 5008)  # images advance by the batch size
    assert not every_5000.due_after_images(5000, 5008)
    assert not every_5000.due_after_epoch(5000)
    every_2_epochs = EvalFrequency(2, 'epoch')
    assert [e for e in range(1, 7) if every_2_epochs.due_after_epoch(e)] == [2, 4, 6]
    assert not every_2_epochs.due_after_images(0, 10**6)
    assert not EvalFrequency(0).due_after_images(0, 10**6)


def test_metrics_that_apply_by_dataset():
    assert applicable_metrics('ade20k', have_labels=True, has_segmenter=True) == ('fid', 'miou')
    assert applicable_metrics('ade20k', have_labels=False, has_segmenter=True) == ('fid',)
    assert applicable_metrics('cityscapes', have_labels=True, has_segmenter=False) == ('fid',)
    assert applicable_metrics('celebahq', have_labels=True, has_segmenter=False) == ('fid', 'swd')
    assert applicable_metrics('synthetic', have_labels=True, has_segmenter=True) == ('fid', 'miou', 'swd', 'texture')
    assert applicable_metrics('synthetic', have_labels=False, has_segmenter=True) == ('fid', 'swd')
    assert applicable_metrics(None, have_labels=False, has_segmenter=False) == ('fid', 'swd')


def test_without_inception_weights_fid_is_left_out_unless_it_is_the_only_metric(monkeypatch):
    from evaluation import generator_eval
    monkeypatch.setattr(generator_eval, 'inception_weights_available', lambda weights=None: False)
    with pytest.warns(UserWarning, match='FID is left out'):
        assert generator_eval.usable_settings(EvalSettings(), 'ade20k', explicit=False).metrics == ('miou',)
    # nothing would be left: FID stays, so the evaluation stops on its error naming the weights file
    assert generator_eval.usable_settings(EvalSettings(), 'cityscapes', explicit=False) == EvalSettings()


def test_the_fid_dims_offered_are_pytorch_fids_blocks():
    # written out in evaluation.settings so that the options need not import pytorch-fid
    from pytorch_fid.inception import InceptionV3
    assert FID_DIMS == tuple(InceptionV3.BLOCK_INDEX_BY_DIM)
