"""Common base of every network: parameter count and SPADE's weight initialisation."""
import torch.nn as nn
from torch.nn import init


class BaseNetwork(nn.Module):
    @staticmethod
    def modify_commandline_options(parser, is_train):
        return parser

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def print_network(self) -> None:
        print(f'Network [{type(self).__name__}] was created. Total number of parameters: '
              f'{self.num_parameters() / 1e6:.1f} million.')

    def init_weights(self, init_type: str = 'normal', gain: float = 0.02) -> None:
        """SPADE's initialisation: conv/linear weights by ``init_type``, biases 0, batch-norm
        scales N(1, gain). Spectral-normalised layers are initialised through ``weight_orig``,
        the parameter behind the normalised weight."""
        for module in self.modules():
            name = type(module).__name__
            if 'BatchNorm' in name:
                if getattr(module, 'weight', None) is not None:
                    init.normal_(module.weight.data, 1.0, gain)
                if getattr(module, 'bias', None) is not None:
                    init.constant_(module.bias.data, 0.0)
            elif ('Conv' in name or 'Linear' in name) and hasattr(module, 'weight'):
                weight = getattr(module, 'weight_orig', None)
                _init_weight(module, module.weight if weight is None else weight, init_type, gain)
                if getattr(module, 'bias', None) is not None:
                    init.constant_(module.bias.data, 0.0)


def _init_weight(module: nn.Module, weight, init_type: str, gain: float) -> None:
    data = weight.data
    if init_type == 'normal':
        init.normal_(data, 0.0, gain)
    elif init_type == 'xavier':
        init.xavier_normal_(data, gain=gain)
    elif init_type == 'xavier_uniform':
        init.xavier_uniform_(data, gain=1.0)
    elif init_type == 'kaiming':
        init.kaiming_normal_(data, a=0, mode='fan_in')
    elif init_type == 'orthogonal':
        init.orthogonal_(data, gain=gain)
    elif init_type == 'none':
        module.reset_parameters()
    else:
        raise ValueError(f'initialization method [{init_type}] is not implemented')
