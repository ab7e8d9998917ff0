"""Process-group set-up for training on one device, several GPUs, or several machines.

- ``torchrun --nproc_per_node N train.py ...`` (and ``--nnodes/--node_rank/--rdzv_*``) sets the
  usual RANK/WORLD_SIZE/LOCAL_RANK variables; each process trains on one device.
- ``python train.py --gpu_ids 0,1,2,3`` without torchrun spawns one process per listed GPU,
  so SPADE users keep their habit.
NCCL is used on GPUs, gloo on the CPU (which makes multi-process runs testable anywhere).
"""
import argparse
import os
import signal
import socket
import sys
import warnings
from dataclasses import dataclass
from typing import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from util.device import pick_device
from util.errors import OptionError


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device('cpu')
    grouped: bool = False  # launched by torchrun: in a process group even when alone in it

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or self.grouped


def launched_by_torchrun() -> bool:
    return 'RANK' in os.environ and 'WORLD_SIZE' in os.environ


def setup(opt: argparse.Namespace) -> Context:
    """Join the process group (when there is more than one process) and pick this process's
    device: ``cuda:<gpu_ids[local_rank]>`` or the CPU."""
    world_size = int(os.environ.get('WORLD_SIZE', 1))
    rank, local_rank = int(os.environ.get('RANK', 0)), int(os.environ.get('LOCAL_RANK', 0))
    if opt.batchSize % world_size != 0:
        raise OptionError(f'--batchSize {opt.batchSize} is the global batch and must split evenly over '
                          f'{world_size} processes')
    device = pick_device(opt.gpu_ids, local_rank, world_size)
    # torchrun means DDP, one process included: `--nproc_per_node 1` runs the same code path
    # (and the same NCCL set-up) as a multi-GPU run, so a one-GPU machine can check it
    grouped = world_size > 1 or launched_by_torchrun()
    if grouped and not dist.is_initialized():
        if device.type == 'cuda':
            torch.cuda.set_device(device)
        dist.init_process_group('nccl' if device.type == 'cuda' else 'gloo', rank=rank, world_size=world_size)
    return Context(rank, world_size, local_rank, device, grouped)


def backend(ctx: Context) -> str:
    return dist.get_backend() if ctx.distributed else 'none'


def describe(ctx: Context, global_batch: int, sync_batchnorm: bool) -> str:
    """The start-up line: processes, backend, devices, batch split and SyncBatchNorm."""
    if not ctx.distributed:
        return f'training on 1 process ({ctx.device}), batch {global_batch}'
    places = [None] * ctx.world_size
    dist.all_gather_object(places, (socket.gethostname(), str(ctx.device)))
    one_host = len({host for host, _ in places}) == 1
    devices = ', '.join(device if one_host else f'{host}:{device}' for host, device in places)
    norm = 'SyncBatchNorm on' if sync_batchnorm else 'SyncBatchNorm off (BatchNorm statistics per process)'
    processes = f'{ctx.world_size} process' + ('es' if ctx.world_size > 1 else '')
    return (f'training on {processes} ({backend(ctx)}; devices {devices}), '
            f'global batch {global_batch} = {global_batch // ctx.world_size} per process, {norm}')


def quiet_unless_main(ctx: Context) -> None:
    """Only rank 0 prints and warns; other ranks' errors (stderr, tracebacks) still reach the user."""
    if ctx.is_main:
        return
    sys.stdout = open(os.devnull, 'w')
    warnings.simplefilter('ignore')


def max_over_ranks(values: list[int], ctx: Context) -> list[int]:
    """The element-wise maximum of ``values`` over all processes (a barrier too)."""
    if not ctx.distributed:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.int64, device=ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


def any_rank(flag: bool, ctx: Context) -> bool:
    """True on every process if ``flag`` is true on any; also a barrier."""
    return bool(max_over_ranks([int(flag)], ctx)[0])


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def broadcast_buffers(module: torch.nn.Module, ctx: Context) -> None:
    """Copy rank 0's buffers (BatchNorm statistics, spectral-norm vectors) to every rank, so
    all processes hold the same model; parameters are already kept equal by DDP."""
    if ctx.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def all_reduce_mean(values: dict, ctx: Context) -> dict:
    """Average scalar loss values over processes for logging."""
    if not ctx.distributed or not values:
        return values
    keys = sorted(values)
    stacked = torch.tensor([float(values[k]) for k in keys], device=ctx.device)
    dist.all_reduce(stacked)
    return dict(zip(keys, (stacked / ctx.world_size).tolist()))


def spawn_per_gpu(worker: Callable[[], None], num_processes: int) -> int:
    """What torchrun does on one machine: one process per GPU with the rendezvous variables set.

    SIGINT and SIGTERM sent to this process are passed on to the workers (which save and stop);
    returns the first non-zero exit status of a worker, or 0."""
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', str(free_port()))
    context = mp.start_processes(_spawned, args=(num_processes, worker), nprocs=num_processes, join=False,
                                 start_method='spawn')

    def forward(signum, frame) -> None:
        for process in context.processes:
            if process.is_alive():
                os.kill(process.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not context.join():
            pass
    except mp.ProcessExitedException as exc:
        return exc.exit_code if exc.exit_code > 0 else 128 - exc.exit_code  # killed: -signum
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _spawned(index: int, num_processes: int, worker: Callable[[], None]) -> None:
    os.environ.update(RANK=str(index), LOCAL_RANK=str(index), WORLD_SIZE=str(num_processes),
                      LOCAL_WORLD_SIZE=str(num_processes))
    worker()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
