"""Tiny option namespaces for network tests, built as the real parsers build them."""
import argparse


def make_opt(**overrides) -> argparse.Namespace:
    """A complete generator/discriminator option set (SPADE ADE20K defaults) with overrides;
    ``semantic_nc`` is derived as the option parser derives it."""
    values = dict(dataset_mode='ade20k', netG='spade', netD='multiscale', ngf=64, ndf=64, nef=None, label_nc=150,
                  contain_dontcare_label=True, no_instance=True, crop_size=256, aspect_ratio=1.0,
                  num_upsampling_layers='normal', spade_hidden=128, use_vae=False, z_dim=256,
                  norm_G='spectralspadesyncbatch3x3', norm_D='spectralinstance', norm_E='spectralinstance',
                  n_layers_D=4, num_D=2, netD_subarch='n_layer', output_nc=3, init_type='xavier',
                  init_variance=0.02, resnet_n_downsample=4, resnet_n_blocks=9, resnet_kernel_size=3,
                  resnet_initial_kernel_size=7, gpu_ids=[], isTrain=False, no_ganFeat_loss=False)
    values.update(overrides)
    opt = argparse.Namespace(**values)
    opt.semantic_nc = opt.label_nc + int(opt.contain_dontcare_label) + int(not opt.no_instance)
    return opt
