"""An independent, functional statement of SPADE's generator in eval mode, read straight from a
state dict with SPADE's key names. Tests compare our modules against it, so a renamed key, a
different interpolation, activation slope or spectral-norm convention shows up as a failure.
"""
import re

import torch
import torch.nn.functional as F


def spectral_weight(state: dict, prefix: str) -> torch.Tensor:
    """Eval-mode spectral norm: W / (u . W v) with the stored u and v (no power iteration)."""
    if prefix + '.weight_orig' not in state:
        return state[prefix + '.weight']
    w = state[prefix + '.weight_orig']
    u, v = state[prefix + '.weight_u'], state[prefix + '.weight_v']
    sigma = torch.dot(u, w.reshape(w.shape[0], -1) @ v)
    return w / sigma


def conv(state: dict, prefix: str, x: torch.Tensor, padding: int) -> torch.Tensor:
    return F.conv2d(x, spectral_weight(state, prefix), state.get(prefix + '.bias'), padding=padding)


def param_free(state: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    mean_key = prefix + '.running_mean'
    if mean_key in state:  # batch norm in eval mode: running statistics
        mean = state[mean_key].view(1, -1, 1, 1)
        var = state[prefix + '.running_var'].view(1, -1, 1, 1)
        return (x - mean) / torch.sqrt(var + 1e-5)
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + 1e-5)


def spade(state: dict, prefix: str, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    seg = F.interpolate(seg, size=x.shape[2:], mode='nearest')
    ks = state[prefix + '.mlp_shared.0.weight'].shape[-1]
    hidden = F.relu(F.conv2d(seg, state[prefix + '.mlp_shared.0.weight'], state[prefix + '.mlp_shared.0.bias'],
                             padding=ks // 2))
    gamma = F.conv2d(hidden, state[prefix + '.mlp_gamma.weight'], state[prefix + '.mlp_gamma.bias'], padding=ks // 2)
    beta = F.conv2d(hidden, state[prefix + '.mlp_beta.weight'], state[prefix + '.mlp_beta.bias'], padding=ks // 2)
    return param_free(state, prefix + '.param_free_norm', x) * (1 + gamma) + beta


def resblock(state: dict, prefix: str, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
    act = lambda t: F.leaky_relu(t, 0.2)
    if prefix + '.norm_s.mlp_shared.0.weight' in state:
        shortcut = F.conv2d(spade(state, prefix + '.norm_s', x, seg), spectral_weight(state, prefix + '.conv_s'))
    else:
        shortcut = x
    dx = conv(state, prefix + '.conv_0', act(spade(state, prefix + '.norm_0', x, seg)), 1)
    dx = conv(state, prefix + '.conv_1', act(spade(state, prefix + '.norm_1', dx, seg)), 1)
    return shortcut + dx


def generator(state: dict, seg: torch.Tensor, num_up_layers: int, aspect_ratio: float = 1.0) -> torch.Tensor:
    """SPADE generator (non-VAE) forward for ``num_up_layers`` in {5, 6, 7}."""
    up = lambda t: F.interpolate(t, scale_factor=2, mode='nearest')
    sw = seg.shape[3] // 2 ** num_up_layers
    sh = round(sw / aspect_ratio)
    x = conv(state, 'fc', F.interpolate(seg, size=(sh, sw), mode='nearest'), 1)
    x = resblock(state, 'head_0', x, seg)
    x = resblock(state, 'G_middle_0', up(x), seg)
    if num_up_layers >= 6:
        x = up(x)
    x = resblock(state, 'G_middle_1', x, seg)
    for name in ('up_0', 'up_1', 'up_2', 'up_3') + (('up_4',) if num_up_layers == 7 else ()):
        x = resblock(state, name, up(x), seg)
    x = F.conv2d(F.leaky_relu(x, 0.2), state['conv_img.weight'], state['conv_img.bias'], padding=1)
    return torch.tanh(x)


def randomize_state(net: torch.nn.Module, generator: torch.Generator) -> dict:
    """Random values for every parameter and buffer (positive variances, unit-ish u/v),
    so that a test exercises the stored statistics and spectral vectors too."""
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(7)
        elif key.endswith('running_var'):
            state[key] = torch.rand(value.shape, generator=generator) + 0.5
        elif re.search(r'weight_[uv]$', key):
            continue  # set below from the weight, as converged power iteration leaves them
        elif value.dim() >= 2:  # scaled by fan-in so activations stay O(1) through the depth
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=generator) / fan_in ** 0.5
        else:
            state[key] = torch.randn(value.shape, generator=generator) * 0.1
    for key in [k for k in state if k.endswith('weight_orig')]:
        matrix = state[key].reshape(state[key].shape[0], -1)
        left, _, right = torch.linalg.svd(matrix, full_matrices=False)
        prefix = key[:-len('orig')]
        state[prefix + 'u'], state[prefix + 'v'] = left[:, 0].contiguous(), right[0].contiguous()
    return {k: state[k] for k in net.state_dict()}
