"""The perceptual loss of the generator: SPADE's VGG L1 loss or a patch-wise contrastive loss.

``--perceptual_loss vgg`` is SPADE's loss: the layer-weighted L1 distance between the VGG19
activations of the synthesised and the real image. ``patchnce``, ``weightnce`` and ``monce``
replace the L1 at each tapped layer with a contrastive loss on ``--num_patches`` positions
(see models/networks/contrastive.py). The module returns the layer-weighted sum; the model
scales it by ``--lambda_vgg`` as SPADE does.

``--monce_preset official`` reproduces the released paired MoNCE code (SPADE_MoNCE): relu*_1
taps, plain PatchNCE at the first four layers, OT weights (eps 1, 'hard' kernel, total negative
weight 128, +1e-8, positive weighted by the largest negative weight, 50 fixed Sinkhorn steps)
at relu5_1 only, no MLP. Options given on the command line still win over the preset.
"""
import argparse
from typing import Iterable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.networks import contrastive
from models.networks.vgg import WEIGHT_CHOICES_HELP, VGG19Features, check_layer_names, layer_channels
from util.errors import OptionError

LOSSES = ('vgg', 'patchnce', 'weightnce', 'monce')
DEFAULT_LAYERS = 'relu1_2,relu2_2,relu3_2,relu4_2,relu5_2'  # the paper's taps for the contrastive losses
SPADE_LAYERS = 'relu1_1,relu2_1,relu3_1,relu4_1,relu5_1'  # what SPADE's VGG19 loss (and the released MoNCE) taps
DEFAULT_LAYER_WEIGHTS = '1/32,1/16,1/8,1/4,1'
MLP_UNITS = 256
OFFICIAL_PRESET = dict(
    perceptual_loss='monce', vgg_layers=SPADE_LAYERS,
    vgg_layer_weights=DEFAULT_LAYER_WEIGHTS, vgg_normalize=False, num_patches=256, nce_T=0.07,
    nce_mlp=False, nce_modulated_layers='relu5_1', ot_eps=1.0, ot_cost='hard', neg_weight_total=128.0,
    nce_modulate_positive=True, nce_weight_floor=1e-8, sinkhorn_iters=50, sinkhorn_tol=0.0,
    ot_detach_plan=False)


def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
    """Add the perceptual-loss options (``--lambda_vgg`` and ``--no_vgg_loss`` are the trainer's)."""
    group = parser.add_argument_group('perceptual loss')
    add = group.add_argument
    add('--perceptual_loss', type=str, default='vgg', choices=LOSSES,
        help="SPADE's VGG L1 loss, or a patch-wise contrastive loss on the same VGG layers")
    add('--monce_preset', type=str, default='none', choices=('none', 'official'),
        help='official: every setting of the released paired MoNCE code (explicit options still win)')
    add('--vgg_layers', type=str, default=DEFAULT_LAYERS,
        help=f"comma-separated VGG19 taps [default: SPADE's {SPADE_LAYERS} for --perceptual_loss vgg, the "
             f"paper's {DEFAULT_LAYERS} for the contrastive losses]")
    add('--vgg_layer_weights', type=str, default=DEFAULT_LAYER_WEIGHTS,
        help='comma-separated weight of each tap (fractions such as 1/32 allowed)')
    add('--vgg_weights', type=str, default='imagenet', help=f'VGG19 weights: {WEIGHT_CHOICES_HELP}')
    add('--vgg_normalize', action='store_true',
        help='standardise the image with ImageNet mean/std before VGG (SPADE feeds [-1, 1] as is)')
    add('--num_patches', type=int, default=256, help='patch positions drawn per layer for contrastive losses')
    add('--nce_T', type=float, default=0.07, help='temperature tau of the contrastive losses')
    add('--nce_mlp', action='store_true',
        help='embed patch features with a 2-layer MLP (256 units) per layer, trained with the generator')
    add('--nce_modulated_layers', type=str, default='all',
        help="taps where WeightNCE/MoNCE weights apply ('all' or comma-separated names); others use PatchNCE")
    add('--neg_term_weight', type=float, default=1.0, help='Q: the negatives of each anchor weigh Q (N-1) in all')
    add('--neg_weight_total', type=float, default=0.0,
        help='if > 0, the negatives of each anchor weigh this much in all, overriding --neg_term_weight')
    add('--weight_beta', type=float, default=0.1, help='WeightNCE softmax temperature beta')
    add('--weight_mode', type=str, default='easy', choices=contrastive.COSTS,
        help='WeightNCE: weigh dissimilar (easy) or similar (hard) negatives up')
    add('--ot_eps', type=float, default=0.1, help='MoNCE: entropic regularisation eps of the OT')
    add('--ot_cost', type=str, default='easy', choices=contrastive.COSTS,
        help='MoNCE kernel exp(c/eps) with c = 1 - similarity (easy) or c = similarity (hard)')
    add('--sinkhorn_iters', type=int, default=100, help='MoNCE: most Sinkhorn row+column steps')
    add('--sinkhorn_tol', type=float, default=1e-5,
        help='MoNCE: stop Sinkhorn once every row and column sums to 1 within this (0: always run --sinkhorn_iters)')
    add('--sinkhorn_fixed', action='store_true',
        help='MoNCE: run all --sinkhorn_iters steps with no reads back to the host, so CUDA graphs or '
             'torch.compile can capture the loss (same answer: converged problems are frozen on the device)')
    add('--ot_detach_plan', action='store_true', help='MoNCE: no gradient through the transport plan')
    add('--nce_modulate_positive', action='store_true',
        help="MoNCE: weigh each positive by its anchor's largest negative weight (released code)")
    add('--nce_weight_floor', type=float, default=0.0,
        help='MoNCE: constant added to every OT weight (the released code adds 1e-8)')
    # a plain ArgumentParser has no peek(): read the real command line, as SPADE's setters do
    seen = parser.peek() if hasattr(parser, 'peek') else parser.parse_known_args()[0]
    if seen.monce_preset == 'official':
        parser.set_defaults(**OFFICIAL_PRESET)
    elif seen.perceptual_loss == 'vgg':  # a SPADE command line gives SPADE's loss
        parser.set_defaults(vgg_layers=SPADE_LAYERS)
    return parser


# ----------------------------------------------------------------------------- options
def parse_layers(opt: argparse.Namespace) -> list[str]:
    layers = [name.strip() for name in opt.vgg_layers.split(',') if name.strip()]
    check_layer_names(layers)
    return layers


def parse_layer_weights(opt: argparse.Namespace, count: int) -> list[float]:
    try:
        weights = [_fraction(part) for part in opt.vgg_layer_weights.split(',') if part.strip()]
    except (ValueError, ZeroDivisionError):
        raise OptionError(f"--vgg_layer_weights must be comma-separated numbers such as 1/32,0.5, "
                          f"got '{opt.vgg_layer_weights}'")
    if len(weights) != count:
        raise OptionError(f'--vgg_layer_weights gives {len(weights)} weights for {count} layers of --vgg_layers')
    return weights


def _fraction(text: str) -> float:
    top, _, bottom = text.strip().partition('/')
    return float(top) / float(bottom) if bottom else float(top)


def parse_modulated_layers(opt: argparse.Namespace, layers: list[str]) -> list[str]:
    if opt.nce_modulated_layers.strip() == 'all':
        return list(layers)
    chosen = [name.strip() for name in opt.nce_modulated_layers.split(',') if name.strip()]
    outside = [name for name in chosen if name not in layers]
    if outside:
        raise OptionError(f"--nce_modulated_layers: {','.join(outside)} not among --vgg_layers {','.join(layers)}")
    return chosen


def validate_options(opt: argparse.Namespace) -> None:
    """Raise :class:`OptionError` for the first invalid loss option."""
    layers = parse_layers(opt)
    parse_layer_weights(opt, len(layers))
    parse_modulated_layers(opt, layers)
    positive = ('num_patches', 'nce_T', 'neg_term_weight', 'weight_beta', 'ot_eps', 'sinkhorn_iters')
    for name in positive:
        if not getattr(opt, name) > 0:
            raise OptionError(f'--{name} must be > 0, got {getattr(opt, name)}')
    for name in ('neg_weight_total', 'sinkhorn_tol', 'nce_weight_floor'):
        if not getattr(opt, name) >= 0:
            raise OptionError(f'--{name} must be >= 0, got {getattr(opt, name)}')
    if opt.num_patches < 2 and opt.perceptual_loss != 'vgg':
        raise OptionError(f'--num_patches must be >= 2 for a contrastive loss, got {opt.num_patches}')


def contrastive_heads(opt: argparse.Namespace) -> Optional[nn.ModuleDict]:
    """``--nce_mlp``: a 2-layer MLP per tapped layer, trained with the generator (saved as
    ``net_heads``); None without it or for SPADE's L1 loss."""
    if not opt.nce_mlp or opt.perceptual_loss == 'vgg':
        return None
    return nn.ModuleDict({name: nn.Sequential(nn.Linear(layer_channels(name), MLP_UNITS), nn.ReLU(),
                                              nn.Linear(MLP_UNITS, MLP_UNITS))
                          for name in parse_layers(opt)})


# ----------------------------------------------------------------------------- module
class PerceptualLoss(nn.Module):
    """``forward(fake, real)``: layer-weighted perceptual loss (without ``lambda_vgg``).

    The VGG19 is held outside the module tree: it is never trained, never in ``state_dict()``,
    yet follows ``.to()``/``.cuda()``. Only the optional MLP heads (``self.heads``) are
    parameters, trained by the generator's optimiser; they run in ``forward``, so a DDP wrapper
    of this module (the trainer's) all-reduces their gradients.
    ``last_stats`` holds the last call's per-layer losses (0-d tensors, before the layer weights)
    and, for MoNCE, the Sinkhorn steps used per layer (``<layer>_sinkhorn_iters``, also 0-d
    tensors: the most any image of the batch took).
    MoNCE solves all modulated layers with the same number of patches in one batched Sinkhorn
    call, each layer getting the plan it would get alone; ``stack_solves=False`` solves each
    layer on its own instead (for comparisons: the results are the same).
    ``features()`` and ``compare()`` are the two halves of ``forward``; ``vgg`` may pass an
    extractor to share (its taps must be those of ``--vgg_layers``).
    """

    def __init__(self, opt: argparse.Namespace, vgg: Optional[VGG19Features] = None,
                 heads: Optional[nn.ModuleDict] = None, stack_solves: bool = True) -> None:
        super().__init__()
        validate_options(opt)
        self.kind = opt.perceptual_loss
        self.layers = parse_layers(opt)
        self.layer_weights = dict(zip(self.layers, parse_layer_weights(opt, len(self.layers))))
        self.modulated = parse_modulated_layers(opt, self.layers) if self.kind in ('weightnce', 'monce') else []
        self.opt = opt
        self.stack_solves = stack_solves
        if vgg is None:
            vgg = VGG19Features(self.layers, opt.vgg_weights, opt.vgg_normalize)
        elif set(vgg.layers) != set(self.layers):
            raise ValueError(f'the VGG taps {vgg.layers} differ from --vgg_layers {self.layers}')
        self.__dict__['_vgg'] = vgg  # bypasses nn.Module registration on purpose
        # the trainer builds the heads with the other networks (it trains and saves them) and
        # hands them in; built here when the loss is used on its own
        self.heads = heads if heads is not None else (contrastive_heads(opt) or nn.ModuleDict())
        self.last_stats: dict[str, object] = {}

    # --------------------------------------------------------------- state and devices
    @property
    def vgg(self) -> VGG19Features:
        return self._vgg

    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        self._vgg._apply(fn)
        return self

    # --------------------------------------------------------------------- the loss
    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        fake_feats, real_feats = self.features(fake, real)
        return self.compare(fake_feats, real_feats)

    def features(self, fake: torch.Tensor, real: torch.Tensor) -> tuple[dict, dict]:
        """VGG activations of both images; the real image's without a graph."""
        vgg = self._vgg
        if torch.is_grad_enabled() and fake.requires_grad:
            # separate passes: the backward then only runs through the fake half
            with torch.no_grad():
                real_feats = vgg(real)
            return vgg(fake), real_feats
        both = vgg(torch.cat([fake, real]))
        return ({name: x[:len(fake)] for name, x in both.items()},
                {name: x[len(fake):] for name, x in both.items()})

    def compare(self, fake_feats: dict, real_feats: dict) -> torch.Tensor:
        """Layer-weighted loss between two sets of activations; fills ``last_stats``."""
        with torch.autocast(next(iter(fake_feats.values())).device.type, enabled=False):
            if self.kind == 'vgg':
                losses = {name: l1_distance(fake_feats[name].float(), real_feats[name].detach().float())
                          for name in self.layers}
                steps = {}
            else:
                losses, steps = self._contrastive(fake_feats, real_feats)
        # tensors, not floats: reading them back is a device sync, left to the logger
        self.last_stats = {name: losses[name].detach() for name in self.layers}
        self.last_stats.update({f'{name}_sinkhorn_iters': n for name, n in steps.items()})
        return sum(self.layer_weights[name] * losses[name] for name in self.layers)

    def _contrastive(self, fake_feats: dict, real_feats: dict) -> tuple[dict, dict]:
        sims = {}
        for name in self.layers:  # one draw per layer, in layer order, so seeded runs repeat
            q, k = self.sample_patches(name, fake_feats[name], real_feats[name])
            sims[name] = contrastive.similarities(q, k)
        log_w, log_w_pos, steps = self._weights(sims)
        losses = {name: contrastive.nce_from_similarities(s, self.opt.nce_T, log_w.get(name),
                                                          log_w_pos.get(name)).mean()
                  for name, s in sims.items()}
        return losses, steps

    def sample_patches(self, name: str, fake: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(queries, keys) of shape (B, N, C'): the same random positions in both maps,
        through the layer's MLP head if any, L2-normalised, in float32."""
        positions = fake.shape[2] * fake.shape[3]
        index = torch.randperm(positions, device=fake.device)[:min(self.opt.num_patches, positions)]
        q = fake.flatten(2).index_select(2, index).transpose(1, 2).float()
        with torch.no_grad():
            k = real.flatten(2).index_select(2, index).transpose(1, 2).float()
        if name in self.heads:
            q = self.heads[name](q)
            with torch.no_grad():
                k = self.heads[name](k)
        return F.normalize(q, dim=-1), F.normalize(k, dim=-1)

    def _weights(self, sims: dict) -> tuple[dict, dict, dict]:
        """(log W of the negatives, log W of the positives, Sinkhorn steps) per modulated layer."""
        if self.kind == 'weightnce':
            opt = self.opt
            return ({name: contrastive.weightnce_log_weights(sims[name], self._Q(sims[name]), opt.weight_beta,
                                                             opt.weight_mode) for name in self.modulated}, {}, {})
        if self.kind == 'monce':
            return self._monce_weights(sims)
        return {}, {}, {}

    def _monce_weights(self, sims: dict) -> tuple[dict, dict, dict]:
        opt = self.opt
        log_w, log_w_pos, steps = {}, {}, {}
        groups = _same_shape_groups(self.modulated, sims) if self.stack_solves else [[n] for n in self.modulated]
        for group in groups:
            stacked = torch.cat([sims[name] for name in group]) if len(group) > 1 else sims[group[0]]
            weights, used = contrastive.monce_log_weights(
                stacked, self._Q(stacked), opt.ot_eps, opt.ot_cost, opt.sinkhorn_iters, opt.sinkhorn_tol,
                opt.nce_weight_floor, grad_through_plan=not opt.ot_detach_plan, sinkhorn_fixed=opt.sinkhorn_fixed)
            sizes = [len(sims[name]) for name in group]
            for name, part, part_steps in zip(group, weights.split(sizes), used.split(sizes)):
                log_w[name], steps[name] = part, part_steps.amax()
                if opt.nce_modulate_positive:
                    log_w_pos[name] = contrastive.positive_log_weights(part)
        return log_w, log_w_pos, steps

    def _Q(self, s: torch.Tensor) -> float:
        if self.opt.neg_weight_total > 0:
            return self.opt.neg_weight_total / (s.shape[-1] - 1)
        return self.opt.neg_term_weight


class _L1Distance(torch.autograd.Function):
    """``mean |x - y|`` with ``y`` a constant, as ``F.l1_loss``, value and gradient bit for bit.

    ``F.l1_loss`` keeps ``x - y`` for its backward (4 bytes an element in float32, as much as
    the tapped activation itself); the gradient only needs its sign, kept here in one byte.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        difference = x - y
        ctx.save_for_backward(torch.sign(difference).to(torch.int8))
        ctx.count, ctx.dtype = difference.numel(), difference.dtype
        return difference.abs().mean()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        (sign,) = ctx.saved_tensors
        # the order of autograd's own mean and abs backwards: (grad / count) * sgn(x - y)
        return (grad / ctx.count).expand(sign.shape) * sign.to(ctx.dtype), None


def l1_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SPADE's per-layer L1 term, ``mean |x - y|``, with ``y`` (the real image's activation) a constant."""
    return _L1Distance.apply(x, y.detach())


def _same_shape_groups(names: Iterable[str], sims: dict) -> list[list[str]]:
    # layers with as many patches solve their transport problems in one batched Sinkhorn
    groups: dict[tuple, list[str]] = {}
    for name in names:
        groups.setdefault(tuple(sims[name].shape[1:]), []).append(name)
    return list(groups.values())
