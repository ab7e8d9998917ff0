"""The precision rules (util/precision.py) and the commands that follow them: autocast types,
fp16 only on CUDA, channels-last for modules and inputs."""
import pytest
import torch
import torch.nn as nn

from options.test_options import TestOptions
from options.train_options import TrainOptions
from util.errors import OptionError
from util.precision import FLOAT32, FP16_NEEDS_CUDA, Precision, plain


def conv() -> nn.Module:
    return nn.Conv2d(3, 4, 3, padding=1)


def is_channels_last(tensor: torch.Tensor) -> bool:
    return tensor.is_contiguous(memory_format=torch.channels_last) and not tensor.is_contiguous()


def test_fp16_on_the_cpu_is_refused_in_one_line():
    for refuse in (lambda: Precision('fp16').autocast('cpu'), lambda: Precision('fp16').check(torch.device('cpu')),
                   lambda: Precision('fp16').check_gpu_ids([])):
        with pytest.raises(OptionError) as error:
            refuse()
        assert str(error.value) == FP16_NEEDS_CUDA and '\n' not in FP16_NEEDS_CUDA
    Precision('fp16').check('cuda')  # the rule is about the device, whether or not this machine has one
    Precision('fp16').check_gpu_ids([0])


@pytest.mark.parametrize('options', [TrainOptions, TestOptions], ids=['train.py', 'test.py'])
def test_every_command_refuses_fp16_on_the_cpu_before_anything_runs(options):
    with pytest.raises(OptionError) as error:
        options().parse(['--gpu_ids', '-1', '--amp', 'fp16'], verbose=False)
    assert str(error.value) == FP16_NEEDS_CUDA


def test_an_unknown_type_is_refused():
    with pytest.raises(OptionError, match=r"^--amp 'fp8' is unknown; choose one of none, bf16, fp16$"):
        Precision('fp8')


def test_bf16_autocast_runs_the_networks_in_bfloat16():
    net, x = conv(), torch.randn(1, 3, 8, 8)
    with Precision('bf16').autocast('cpu'):
        assert torch.is_autocast_enabled('cpu') and torch.get_autocast_dtype('cpu') == torch.bfloat16
        assert net(x).dtype == torch.bfloat16
    with FLOAT32.autocast('cpu'):
        assert not torch.is_autocast_enabled('cpu')
        assert net(x).dtype == torch.float32
    assert Precision('bf16').dtype == torch.bfloat16 and Precision('fp16').dtype == torch.float16
    assert FLOAT32.dtype is None
    assert [Precision(amp).scales_losses for amp in ('none', 'bf16', 'fp16')] == [False, False, True]


def test_channels_last_is_applied_to_the_module_and_its_input():
    net, x = conv(), torch.randn(2, 3, 8, 8)
    expected = net(x)
    fast = Precision(channels_last=True)
    assert fast.prepare_module(net) is net and is_channels_last(net.weight)
    y = fast.prepare_input(x)
    assert is_channels_last(y) and torch.equal(y, x)
    assert torch.allclose(net(y), expected, atol=1e-6)
    plain_net, plain_x = conv(), torch.randn(2, 3, 8, 8)
    assert FLOAT32.prepare_module(plain_net).weight.is_contiguous() and FLOAT32.prepare_input(plain_x) is plain_x


def test_plain_gives_contiguous_float32():
    x = torch.randn(1, 3, 4, 4, requires_grad=True).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    y = plain(x)
    assert y.dtype == torch.float32 and y.is_contiguous() and not y.requires_grad
    assert torch.equal(y, x.detach().float())


@pytest.mark.parametrize('argv', [[], ['--amp', 'bf16'], ['--channels_last'], ['--amp', 'bf16', '--channels_last']])
def test_flags_are_the_command_line_that_asks_for_the_precision(argv):
    opt = TestOptions().parse(['--gpu_ids', '-1', '--backend', 'torch'] + argv, verbose=False)
    assert Precision.of(opt).flags() == argv
