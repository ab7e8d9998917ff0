"""Training options: SPADE's, plus this project's training-loop options."""
import argparse

from evaluation import options as evaluation_options
from options import groups
from options.base_options import BaseOptions, OptionParser

DEBUG_ITERATIONS = 10


class TrainOptions(BaseOptions):
    is_train = True

    def initialize(self, parser: OptionParser) -> OptionParser:
        super().initialize(parser)
        # for displays
        parser.add_argument('--display_freq', type=int, default=100,
                            help='log an image grid to TensorBoard every this many training images')
        parser.add_argument('--print_freq', type=int, default=100, help='print the losses every this many training images')
        parser.add_argument('--save_latest_freq', type=int, default=5000,
                            help='save the latest checkpoint every this many training images')
        parser.add_argument('--save_epoch_freq', type=int, default=10,
                            help='frequency (epochs) of saving checkpoints at the end of epochs')
        parser.add_argument('--debug', action='store_true',
                            help=f'a quick check: one epoch of at most {DEBUG_ITERATIONS} iterations, printing and '
                                 'logging images at every iteration')
        parser.add_argument('--tb_dir', type=str, default=None,
                            help='TensorBoard folder [default: checkpoints_dir/name/tensorboard]')

        # for training
        parser.add_argument('--continue_train', action='store_true', help='continue training from the latest checkpoint')
        parser.add_argument('--overwrite_run', action='store_true',
                            help='start afresh in a run folder that already holds checkpoints, deleting them '
                                 '(without it, train.py refuses to train over a run)')
        groups.add_checkpoint_options(parser, 'continue from (with --continue_train)', inference=False)
        parser.add_argument('--niter', type=int, default=50,
                            help='# of epochs at the starting learning rate (total = niter + niter_decay)')
        parser.add_argument('--niter_decay', type=int, default=0,
                            help='# of epochs to linearly decay the learning rate to zero')
        parser.add_argument('--beta1', type=float, default=0.0, help='momentum term of adam')
        parser.add_argument('--beta2', type=float, default=0.9, help='momentum term of adam')
        parser.add_argument('--no_TTUR', action='store_true', help='do not use the TTUR learning-rate scheme')
        if parser.peek().no_TTUR:  # SPADE's betas without TTUR
            parser.set_defaults(beta1=0.5, beta2=0.999)
        parser.add_argument('--lr', type=float, default=0.0002, help='initial learning rate for adam')
        parser.add_argument('--D_steps_per_G', type=int, default=1,
                            help='number of discriminator iterations per generator iteration')

        # for discriminators
        parser.add_argument('--ndf', type=int, default=64, help='# of discriminator filters in first conv layer')
        parser.add_argument('--lambda_feat', type=float, default=10.0, help='weight for feature matching loss')
        parser.add_argument('--lambda_vgg', type=float, default=10.0,
                            help='weight for the perceptual loss (VGG L1 or its contrastive replacement)')
        parser.add_argument('--no_ganFeat_loss', action='store_true',
                            help='do *not* use discriminator feature matching loss')
        parser.add_argument('--no_vgg_loss', action='store_true', help='do *not* use the perceptual loss')
        parser.add_argument('--gan_mode', type=str, default='hinge', choices=('hinge', 'ls', 'original', 'w'))
        parser.add_argument('--netD', type=str, default='multiscale', help='(n_layer|multiscale)')
        parser.add_argument('--lambda_kld', type=float, default=0.05)

        # this project's training-loop options
        parser.add_argument('--recompute_fake_for_D', action='store_true',
                            help="regenerate the fakes for the discriminator step as SPADE does; by default the "
                                 "generator step's fakes are reused (a third less generator compute)")
        parser.add_argument('--ema', action='store_true',
                            help='keep an exponential moving average of G; evaluation and test.py then use it')
        parser.add_argument('--ema_decay', type=float, default=0.9999, help='decay of the generator EMA')
        parser.add_argument('--ema_start', type=int, default=0,
                            help='iteration from which the EMA averages (before it, it copies G)')
        groups.add_precision_options(parser)
        parser.add_argument('--compile', action='store_true', help='torch.compile the generator and discriminator')
        parser.add_argument('--max_loss', type=float, default=1e6,
                            help='stop as diverged when a loss term exceeds this (non-finite losses always stop '
                                 'the run; 0: no limit on finite values)')
        evaluation_options.modify_commandline_options(parser, self.is_train)
        groups.add_spade_no_op_options(parser)
        return parser

    def adjust(self, opt: argparse.Namespace) -> None:
        """Refuses fp16 on the CPU; ``--debug``: one short epoch that prints and logs at every iteration."""
        groups.check_precision(opt)
        if opt.debug:
            opt.niter, opt.niter_decay = 1, 0
            opt.max_dataset_size = min(opt.max_dataset_size, DEBUG_ITERATIONS * opt.batchSize)
            opt.print_freq = opt.display_freq = opt.batchSize
