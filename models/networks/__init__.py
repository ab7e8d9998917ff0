"""SPADE's network factory: ``define_G/define_D/define_E(opt)`` return initialised networks."""
from models.networks.base_network import BaseNetwork
from models.networks.discriminator import MultiscaleDiscriminator, NLayerDiscriminator
from models.networks.encoder import ConvEncoder
from models.networks.generator import Pix2PixHDGenerator, SPADEGenerator
from models.networks.loss import GANLoss, KLDLoss
from util.errors import choose

GENERATORS = {'spade': SPADEGenerator, 'pix2pixhd': Pix2PixHDGenerator}
DISCRIMINATORS = {'multiscale': MultiscaleDiscriminator, 'n_layer': NLayerDiscriminator}


def modify_commandline_options(parser, is_train):
    seen = parser.peek()
    choose(GENERATORS, seen.netG, 'netG').modify_commandline_options(parser, is_train)
    if is_train:
        choose(DISCRIMINATORS, seen.netD, 'netD').modify_commandline_options(parser, is_train)
    return parser


def create_network(cls: type, opt, verbose: bool = True) -> BaseNetwork:
    net = cls(opt)
    if verbose:
        net.print_network()
    net.init_weights(opt.init_type, opt.init_variance)
    return net


def define_G(opt, verbose: bool = True) -> BaseNetwork:
    return create_network(choose(GENERATORS, opt.netG, 'netG'), opt, verbose)


def define_D(opt, verbose: bool = True) -> BaseNetwork:
    return create_network(choose(DISCRIMINATORS, opt.netD, 'netD'), opt, verbose)


def define_E(opt, verbose: bool = True) -> BaseNetwork:
    return create_network(ConvEncoder, opt, verbose)
