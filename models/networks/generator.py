"""Generators: SPADE (GauGAN) and pix2pixHD's global generator, with SPADE's module names."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.networks.architecture import ResnetBlock, SPADEResnetBlock
from models.networks.base_network import BaseNetwork
from models.networks.normalization import SPADE_HIDDEN, get_nonspade_norm_layer

UPSAMPLING_LAYERS = {'normal': 5, 'more': 6, 'most': 7}


class SPADEGenerator(BaseNetwork):
    """Starts from the segmentation map downsampled to ``crop_size / 2**layers`` (or from a
    latent z with ``--use_vae``) and upsamples through SPADE residual blocks."""

    @staticmethod
    def modify_commandline_options(parser, is_train):
        parser.set_defaults(norm_G='spectralspadesyncbatch3x3')
        parser.add_argument('--num_upsampling_layers', choices=tuple(UPSAMPLING_LAYERS), default='normal',
                            help="'more' adds an upsampling layer between the two middle resnet blocks; "
                                 "'most' also adds one more upsampling + resnet layer at the end")
        parser.add_argument('--spade_hidden', type=int, default=SPADE_HIDDEN,
                            help="width of each SPADE layer's shared hidden convolution (SPADE: 128); smaller "
                                 'is much cheaper at small --ngf')
        return parser

    def __init__(self, opt) -> None:
        super().__init__()
        self.opt = opt
        nf = opt.ngf
        self.sw, self.sh = self.compute_latent_vector_size(opt)
        if opt.use_vae:
            self.fc = nn.Linear(opt.z_dim, 16 * nf * self.sw * self.sh)
        else:
            self.fc = nn.Conv2d(opt.semantic_nc, 16 * nf, 3, padding=1)
        self.head_0 = SPADEResnetBlock(16 * nf, 16 * nf, opt)
        self.G_middle_0 = SPADEResnetBlock(16 * nf, 16 * nf, opt)
        self.G_middle_1 = SPADEResnetBlock(16 * nf, 16 * nf, opt)
        self.up_0 = SPADEResnetBlock(16 * nf, 8 * nf, opt)
        self.up_1 = SPADEResnetBlock(8 * nf, 4 * nf, opt)
        self.up_2 = SPADEResnetBlock(4 * nf, 2 * nf, opt)
        self.up_3 = SPADEResnetBlock(2 * nf, 1 * nf, opt)
        final_nc = nf
        if opt.num_upsampling_layers == 'most':
            self.up_4 = SPADEResnetBlock(1 * nf, nf // 2, opt)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    @staticmethod
    def compute_latent_vector_size(opt) -> tuple[int, int]:
        sw = opt.crop_size // (2 ** UPSAMPLING_LAYERS[opt.num_upsampling_layers])
        sh = round(sw / opt.aspect_ratio)
        return sw, sh

    def forward(self, seg: torch.Tensor, z: torch.Tensor = None) -> torch.Tensor:
        x = self.initial_map(seg, z)
        x = self.head_0(x, seg)
        x = self.up(x)
        x = self.G_middle_0(x, seg)
        if self.opt.num_upsampling_layers in ('more', 'most'):
            x = self.up(x)
        x = self.G_middle_1(x, seg)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = block(self.up(x), seg)
        if self.opt.num_upsampling_layers == 'most':
            x = self.up_4(self.up(x), seg)
        x = self.conv_img(F.leaky_relu(x, 2e-1))
        return torch.tanh(x)

    def initial_map(self, seg: torch.Tensor, z: torch.Tensor = None) -> torch.Tensor:
        if not self.opt.use_vae:
            return self.fc(F.interpolate(seg, size=(self.sh, self.sw)))
        if z is None:  # sample the prior, e.g. at test time without a style image
            z = torch.randn(seg.size(0), self.opt.z_dim, dtype=seg.dtype, device=seg.device)
        return self.fc(z).view(-1, 16 * self.opt.ngf, self.sh, self.sw)


class Pix2PixHDGenerator(BaseNetwork):
    """pix2pixHD's global generator (SPADE's baseline): downsample, residual blocks, upsample."""

    @staticmethod
    def modify_commandline_options(parser, is_train):
        parser.add_argument('--resnet_n_downsample', type=int, default=4, help='number of downsampling layers in netG')
        parser.add_argument('--resnet_n_blocks', type=int, default=9,
                            help='number of residual blocks in the global generator network')
        parser.add_argument('--resnet_kernel_size', type=int, default=3, help='kernel size of the resnet block')
        parser.add_argument('--resnet_initial_kernel_size', type=int, default=7,
                            help='kernel size of the first convolution')
        parser.set_defaults(norm_G='instance')
        return parser

    def __init__(self, opt) -> None:
        super().__init__()
        norm_layer = get_nonspade_norm_layer(opt, opt.norm_G)
        activation = nn.ReLU(False)
        ngf, k0 = opt.ngf, opt.resnet_initial_kernel_size
        model = [nn.ReflectionPad2d(k0 // 2),
                 norm_layer(nn.Conv2d(opt.semantic_nc, ngf, kernel_size=k0, padding=0)),
                 activation]
        mult = 1
        for _ in range(opt.resnet_n_downsample):
            model += [norm_layer(nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1)),
                      activation]
            mult *= 2
        for _ in range(opt.resnet_n_blocks):
            model += [ResnetBlock(ngf * mult, norm_layer=norm_layer, activation=activation,
                                  kernel_size=opt.resnet_kernel_size)]
        for _ in range(opt.resnet_n_downsample):
            model += [norm_layer(nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=2,
                                                    padding=1, output_padding=1)),
                      activation]
            mult //= 2
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf * mult, opt.output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, seg: torch.Tensor, z: torch.Tensor = None) -> torch.Tensor:
        return self.model(seg)
