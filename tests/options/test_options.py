"""Option parsing: SPADE's names and defaults, per-dataset defaults, validation, opt.json."""
import json
import os
import re
import subprocess
import sys

import pytest

from options.test_options import TestOptions
from options.train_options import TrainOptions
from util.errors import OptionError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train_opt(*args, tmp_path=None, save=False):
    argv = ['--gpu_ids', '-1'] + list(args)
    if tmp_path is not None:
        argv += ['--checkpoints_dir', str(tmp_path)]
    return TrainOptions().parse(argv, save=save, verbose=False)


def test_spade_defaults():
    opt = train_opt()
    assert (opt.lr, opt.beta1, opt.beta2, opt.niter, opt.niter_decay) == (0.0002, 0.0, 0.9, 50, 0)
    assert (opt.lambda_feat, opt.lambda_vgg, opt.lambda_kld, opt.gan_mode) == (10.0, 10.0, 0.05, 'hinge')
    assert (opt.netG, opt.ngf, opt.ndf, opt.norm_G, opt.norm_D) == ('spade', 64, 64, 'spectralspadesyncbatch3x3',
                                                                   'spectralinstance')
    assert (opt.netD, opt.num_D, opt.n_layers_D, opt.num_upsampling_layers) == ('multiscale', 2, 4, 'normal')
    assert (opt.init_type, opt.init_variance, opt.z_dim) == ('xavier', 0.02, 256)
    assert (opt.save_latest_freq, opt.save_epoch_freq, opt.print_freq, opt.display_freq) == (5000, 10, 100, 100)
    assert opt.isTrain and opt.gpu_ids == []


def test_no_ttur_changes_adam_betas_as_spade():
    opt = train_opt('--no_TTUR')
    assert (opt.beta1, opt.beta2) == (0.5, 0.999)
    assert train_opt('--no_TTUR', '--beta1', '0.3').beta1 == 0.3


def test_test_defaults():
    opt = TestOptions().parse(['--gpu_ids', '-1', '--dataset_mode', 'custom', '--label_dir', 'x'], verbose=False)
    assert not opt.isTrain
    assert (opt.phase, opt.serial_batches, opt.no_flip, opt.how_many, opt.results_dir) == \
           ('test', True, True, float('inf'), './results/')
    assert opt.which_epoch == 'latest'


def test_spade_ade20k_command_line_parses_with_dataset_defaults(tmp_path):
    argv = ['--name', 'ade20k', '--dataset_mode', 'ade20k', '--dataroot', str(tmp_path), '--niter', '100',
            '--niter_decay', '100', '--batchSize', '32', '--use_vae', '--nThreads', '0']
    opt = train_opt(*argv)
    assert (opt.label_nc, opt.contain_dontcare_label, opt.no_instance) == (150, True, True)
    assert (opt.preprocess_mode, opt.load_size, opt.crop_size) == ('resize_and_crop', 286, 256)
    assert opt.semantic_nc == 151
    test = TestOptions().parse(['--gpu_ids', '-1'] + argv[:6], verbose=False)
    assert (test.load_size, test.crop_size) == (256, 256)


def test_explicit_argv_and_sys_argv(monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['train.py', '--gpu_ids', '-1', '--ngf', '8'])
    assert TrainOptions().parse(save=False, verbose=False).ngf == 8
    assert train_opt('--ngf', '16').ngf == 16


def test_dataset_mode_defaults_to_synthetic_without_dataroot():
    assert train_opt().dataset_mode == 'synthetic'
    assert train_opt('--dataroot', '/nowhere').dataset_mode == 'coco'  # SPADE's default otherwise


@pytest.mark.parametrize('args,needle', [
    (['--crop_size', '100'], '--crop_size 100 must be a multiple of 32'),
    (['--crop_size', '64', '--num_upsampling_layers', 'most'], 'multiple of 128'),
    (['--label_nc', '0'], '--label_nc must be >= 1'),
    (['--batchSize', '3', '--gpu_ids', '0,1'], '--batchSize 3 must be a multiple of the number of GPUs'),
    (['--dataset_mode', 'nope'], "--dataset_mode 'nope' is unknown"),
    (['--netG', 'unet'], "--netG 'unet' is unknown"),
    (['--norm_G', 'spectralspadewhatever3x3'], "--norm_G 'spectralspadewhatever3x3' is not a SPADE norm"),
    (['--norm_D', 'group'], "--norm_D 'group' is not recognised"),
    (['--gpu_ids', 'a,b'], '--gpu_ids must be comma-separated integers'),
    (['--aspect_ratio', '1.5', '--crop_size', '256'], '--aspect_ratio 1.5'),
    (['--no_such_option'], 'unrecognized arguments: --no_such_option'),
    # values that parse but used to crash later (some only after a whole epoch) or do nothing
    (['--save_epoch_freq', '0'], '--save_epoch_freq must be >= 1, got 0'),
    (['--print_freq', '0'], '--print_freq must be >= 1'),
    (['--display_freq', '-5'], '--display_freq must be >= 1'),
    (['--save_latest_freq', '0'], '--save_latest_freq must be >= 1'),
    (['--D_steps_per_G', '0'], '--D_steps_per_G must be >= 1'),
    (['--niter', '0'], '--niter 0 with --niter_decay 0 leaves no epoch to train'),
    (['--niter', '-1', '--niter_decay', '3'], '--niter must be >= 0'),
    (['--lr', 'nan'], '--lr must be a positive number, got nan'),
    (['--lr', '0'], '--lr must be a positive number'),
    (['--lr', 'inf'], '--lr must be a positive number'),
    (['--beta1', '1'], '--beta1 must be in [0, 1)'),
    (['--lambda_vgg', 'nan'], '--lambda_vgg must be a finite number >= 0'),
    (['--lambda_feat', '-1'], '--lambda_feat must be a finite number >= 0'),
    (['--ema_decay', '1.5'], '--ema_decay must be in [0, 1]'),
    (['--max_loss', '-1'], '--max_loss must be a finite number >= 0'),
    (['--ndf', '0'], '--ndf must be >= 1'),
    # contradictions
    (['--perceptual_loss', 'monce', '--no_vgg_loss'], '--perceptual_loss monce would do nothing'),
    (['--continue_train', '--overwrite_run'], '--continue_train resumes a run and --overwrite_run deletes it'),
])
def test_invalid_options_raise_one_clear_line(args, needle):
    argv = args if '--gpu_ids' in args else ['--gpu_ids', '-1'] + args
    with pytest.raises(OptionError) as info:
        TrainOptions().parse(argv, save=False, verbose=False)
    assert needle in str(info.value)
    assert '\n' not in str(info.value)


def test_parsing_alone_writes_no_options_file(tmp_path):
    train_opt('--name', 'run', tmp_path=tmp_path)  # train.py writes them once the run has started
    assert not os.path.exists(tmp_path / 'run')


def test_options_saved_as_json_and_text(tmp_path):
    opt = train_opt('--name', 'run', '--ngf', '16', tmp_path=tmp_path, save=True)
    saved = json.load(open(tmp_path / 'run' / 'opt.json'))
    assert saved['ngf'] == 16 and saved['label_nc'] == opt.label_nc and saved['isTrain'] is True
    text = open(tmp_path / 'run' / 'opt.txt').read()
    assert re.search(r'ngf: 16\s+\[default: 64\]', text)
    assert not os.path.exists(tmp_path / 'run' / 'opt.pkl')


def test_load_from_opt_file_restores_architecture_not_run_control(tmp_path):
    train_opt('--name', 'run', '--ngf', '16', '--norm_G', 'spectralspadeinstance3x3', '--batchSize', '4',
              '--crop_size', '64', '--load_size', '64', tmp_path=tmp_path, save=True)
    opt = TestOptions().parse(['--gpu_ids', '-1', '--name', 'run', '--checkpoints_dir', str(tmp_path),
                               '--load_from_opt_file'], verbose=False)
    assert (opt.ngf, opt.norm_G, opt.crop_size) == (16, 'spectralspadeinstance3x3', 64)
    assert opt.batchSize == 1 and opt.phase == 'test' and not opt.isTrain  # the file's 4 is run control
    explicit = TestOptions().parse(['--gpu_ids', '-1', '--name', 'run', '--checkpoints_dir', str(tmp_path),
                                    '--load_from_opt_file', '--ngf', '32'], verbose=False)
    assert explicit.ngf == 32  # the command line wins over the file


def test_load_from_missing_opt_file_is_reported(tmp_path):
    with pytest.raises(OptionError, match='no options file at .*opt.json'):
        TestOptions().parse(['--gpu_ids', '-1', '--name', 'none', '--checkpoints_dir', str(tmp_path),
                             '--load_from_opt_file'], verbose=False)


def test_help_lists_options_added_by_setters(capsys):
    with pytest.raises(SystemExit) as info:
        TrainOptions().parse(['-h'], save=False, verbose=False)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert '--num_upsampling_layers' in out and '--n_layers_D' in out and '--synthetic_seed' in out


def test_cli_prints_one_error_line_and_exits_2(tmp_path):
    result = subprocess.run([sys.executable, 'train.py', '--gpu_ids', '-1', '--crop_size', '100',
                             '--checkpoints_dir', str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert lines == ['train.py: error: --crop_size 100 must be a multiple of 32 with --num_upsampling_layers '
                     'normal (the generator upsamples 5 times from a 32x smaller map)']


def test_load_from_opt_file_reads_spades_opt_txt(tmp_path):
    (tmp_path / 'spade_run').mkdir()
    (tmp_path / 'spade_run' / 'opt.txt').write_text(
        '----------------- Options ---------------\n'
        '                      ngf: 32                            \t[default: 64]\n'
        '                   norm_G: spectralspadeinstance3x3      \t[default: spectralinstance]\n'
        '                 use_vae: True                          \t[default: False]\n'
        '                 label_nc: 35                            \t[default: 182]\n'
        '              num_upsampling_layers: more                \t[default: normal]\n'
        '                    phase: train                         \n'
        '----------------- End -------------------\n')
    opt = TestOptions().parse(['--gpu_ids', '-1', '--name', 'spade_run', '--checkpoints_dir', str(tmp_path),
                               '--load_from_opt_file', '--crop_size', '512', '--aspect_ratio', '2'], verbose=False)
    assert (opt.ngf, opt.norm_G, opt.use_vae, opt.label_nc) == (32, 'spectralspadeinstance3x3', True, 35)
    assert opt.num_upsampling_layers == 'more'
    assert opt.phase == 'test'  # run control is never taken from the file


def test_vgg_loss_taps_spades_layers_and_contrastive_losses_the_papers():
    spade, paper = 'relu1_1,relu2_1,relu3_1,relu4_1,relu5_1', 'relu1_2,relu2_2,relu3_2,relu4_2,relu5_2'
    assert train_opt().vgg_layers == spade  # --perceptual_loss vgg by default, as SPADE
    assert train_opt('--perceptual_loss', 'monce').vgg_layers == paper
    assert train_opt('--perceptual_loss', 'monce', '--monce_preset', 'official').vgg_layers == spade
    assert train_opt('--perceptual_loss', 'vgg', '--vgg_layers', 'relu2_2').vgg_layers == 'relu2_2'


def test_debug_is_one_short_epoch_logging_every_iteration():
    opt = train_opt('--debug', '--batchSize', '3', '--niter', '50', '--niter_decay', '50')
    assert (opt.niter, opt.niter_decay, opt.max_dataset_size) == (1, 0, 30)
    assert opt.print_freq == opt.display_freq == 3  # every iteration: the counters count images


def test_every_option_is_read_somewhere_or_says_it_is_only_accepted():
    """No option may promise behaviour that does not exist."""
    import subprocess
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '*.py'], cwd=REPO, capture_output=True,
                           text=True).stdout.split()
    code = ''.join(open(os.path.join(REPO, f)).read() for f in files
                   if not f.startswith('tests/') and os.path.exists(os.path.join(REPO, f)))
    unread = []
    for options in (TrainOptions(), TestOptions()):
        options.parse(['--gpu_ids', '-1'], verbose=False)
        for action in options.parser._actions:
            used = re.search(r"[.'\"]" + re.escape(action.dest) + r"\b", code)
            if not used and action.dest not in ('help', 'load_from_opt_file') and \
                    'accepted for SPADE compatibility' not in (action.help or ''):
                unread.append(action.dest)
    assert unread == []
