#!/usr/bin/env bash
# Every GPU check in one run (the lent GPU machine is short-lived): the paper's ADE20K setting
# (crop 256, batch 12, ngf 64, 151 label channels, synthetic tensors, random VGG) for SPADE's
# VGG loss and MoNCE in fp32 (TF32) and bf16, then the loss benchmark on the GPU, then a short
# real training run with AMP on the built-in dataset, then one epoch through torchrun on one
# GPU: the NCCL process group starts, trains and saves (the only NCCL check there is). Figures go to stdout and to $OUT if set.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
LOG=${OUT:-/tmp}/gpu_check.txt
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  echo "== training step, paper ADE20K shape, fp32 (TF32) and bf16, channels_last"
  $PY bench/train_bench.py --device cuda --batch 12 --size 256 --ngf 64 --label_nc 150 \
      --losses vgg,monce --amps none,bf16 --iters 10 --warmup 3 --channels_last
  echo "== the same, SPADE's order of work (D regenerates the fakes), fp32, no channels_last"
  $PY bench/train_bench.py --device cuda --batch 12 --size 256 --ngf 64 --label_nc 150 \
      --losses vgg,monce --amps none --iters 10 --warmup 3 --recompute_fake_for_D
  echo "== loss family on the GPU"
  $PY bench/loss_bench.py --device cuda --batch 12 --size 256 --repeats 5
  echo "== the same, kernel and host-read counts per loss call"
  $PY bench/loss_bench.py --device cuda --batch 12 --size 256 --repeats 1 --warmup 0 --profile
  echo "== a real run: built-in dataset, bf16, EMA, 2 epochs"
  rm -rf /tmp/gpu_check_ckpt
  $PY train.py --name gpu_check --checkpoints_dir /tmp/gpu_check_ckpt --gpu_ids 0 --crop_size 128 \
      --load_size 128 --synthetic_train_size 240 --batchSize 12 --niter 2 --perceptual_loss monce \
      --vgg_weights random --amp bf16 --channels_last --ema --print_freq 120 --nThreads 4 2>&1 | grep -v '^ *[a-zA-Z_0-9]*: '
  echo "== DDP over NCCL: torchrun --nproc_per_node 1, one epoch, then the saved files"
  $PY -m torch.distributed.run --standalone --nproc_per_node 1 train.py --name gpu_check_ddp \
      --checkpoints_dir /tmp/gpu_check_ckpt --gpu_ids 0 --crop_size 64 --load_size 64 \
      --synthetic_train_size 48 --batchSize 12 --niter 1 --perceptual_loss monce --vgg_weights random \
      --print_freq 48 --nThreads 2 2>&1 | grep -v '^ *[a-zA-Z_0-9]*: '
  ls /tmp/gpu_check_ckpt/gpu_check_ddp
} 2>&1 | tee "$LOG"
