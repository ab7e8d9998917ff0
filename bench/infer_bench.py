"""Inference speed of test.py's pipeline, end to end, for several settings side by side:
images/s from the first batch loaded to the results page saved (data loading, generator, PNG
encoding and atomic writes of input_label, synthesized_image and real_image, the page), and the
generator's own images/s (the time inside its calls during that same run, input encoding
included; on CUDA each call is synchronised to be timed).

    python bench/infer_bench.py                                   # CPU, 2 images per setting
    python bench/infer_bench.py --configs torch,onnxruntime --threads 1,2 --batch 1,4
    python bench/infer_bench.py --device cuda --num_images 256 --batch 16

The ADE20K shape by default: 150 labels + dontcare = 151 input channels, ngf 64, 256x256,
--norm_G spectralspadesyncbatch3x3, a generator with random weights (saved, then loaded as
test.py loads it), on a --dataset_mode custom folder of blocky label PNGs and JPEG photos
written to a temporary folder, results written there too. Settings (--configs):

    torch           --backend torch: PyTorch, float32, --nThreads 0, writing in the main loop
                    (test.py's defaults before --backend)
    onnxruntime     --backend onnxruntime: the generator exported to ONNX, run by onnxruntime
    default         test.py's defaults: --backend auto (onnxruntime on the CPU, torch on CUDA)
    channels_last   --channels_last
    bf16            --amp bf16
    fp16            --amp fp16 (CUDA only)
    workers+writer  --nThreads W --write_threads T
    all             all of the above with bf16 (fp16 with --all_amp fp16)
    all_fp32        all but the reduced precision: --channels_last --nThreads W --write_threads T

By default: torch, default, channels_last, bf16, workers+writer, all, all_fp32; on a CPU without
native bf16 (AVX2 only; torch.ops.mkldnn._is_mkldnn_bf16_supported() is False) bf16 without
channels_last falls back to a very slow convolution (65 s per 64x64 image with ngf 16 on a
2-core AVX2 machine, 40x float32), so the plain bf16 row is left out there unless --configs
names it.

Threads (--threads, e.g. 1,2: each setting runs at each count; default: torch's current count):
torch.set_num_threads(N) before the model is built, which also sets onnxruntime's intra-op
threads (inference/backends.py). 1 leaves the other core of a 2-core machine free; 2 uses both.
Batches (--batch, e.g. 1,4): each setting runs at each --batchSize.

Each setting runs in a fresh model; onnxruntime's first use exports and checks the generator
(printed as 'first use', outside the timed run: later runs read the cache). The table gives,
for each thread count and batch, the ratio to that group's torch row (its first row when
torch is not measured), how many synthesized PNGs equal that row's byte for byte, the largest
difference and the share of values within one level (random weights saturate tanh, so a change
shows as a 0/255 flip: the difference columns say little about a trained model's).
"""
import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import inference.pipeline as pipeline  # noqa: E402
from inference.backends import backend_of, inference_model  # noqa: E402
from models import networks  # noqa: E402
from models.pix2pix_model import Pix2PixModel  # noqa: E402
from options.test_options import TestOptions  # noqa: E402
from util.precision import Precision  # noqa: E402

CONFIGS = ('torch', 'onnxruntime', 'default', 'channels_last', 'bf16', 'fp16', 'workers+writer', 'all', 'all_fp32')
DEFAULT_CONFIGS = 'torch,default,channels_last,bf16,workers+writer,all,all_fp32'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument('--num_images', type=int, default=None,
                        help='images per setting [cpu: 2 or the largest --batch, cuda: 128]')
    parser.add_argument('--batch', type=str, default=None, help='--batchSize, or several: 1,4 [cpu: 1, cuda: 16]')
    parser.add_argument('--threads', type=str, default=None,
                        help='CPU threads (torch and onnxruntime), or several: 1,2 [default: torch\'s current count]')
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--ngf', type=int, default=64)
    parser.add_argument('--label_nc', type=int, default=150, help='labels; +1 dontcare channel as ADE20K')
    parser.add_argument('--norm_G', default='spectralspadesyncbatch3x3')
    parser.add_argument('--configs', default=None,
                        help=f'comma-separated of {",".join(CONFIGS)} [default: {DEFAULT_CONFIGS}, see above]')
    parser.add_argument('--nThreads', type=int, default=2, help='loader workers of the parallel settings')
    parser.add_argument('--write_threads', type=int, default=2, help='writer threads of the parallel settings')
    parser.add_argument('--all_amp', default='bf16', choices=('bf16', 'fp16'), help="the 'all' setting's precision")
    parser.add_argument('--warmup', type=int, default=None,
                        help='generator calls on one batch before each timed run [cpu: 0, cuda: 2]')
    parser.add_argument('--keep', action='store_true', help='keep the temporary folder (data, run, results)')
    args = parser.parse_args(argv)
    cuda = args.device == 'cuda'
    args.batches = counts(parser, '--batch', args.batch or ('16' if cuda else '1'))
    args.thread_counts = counts(parser, '--threads', args.threads or str(torch.get_num_threads()))
    args.num_images = args.num_images or (128 if cuda else max(2, max(args.batches)))
    args.warmup = (2 if cuda else 0) if args.warmup is None else args.warmup
    args.skipped = ''
    if args.configs is None:
        args.configs = DEFAULT_CONFIGS
        if not cuda and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            args.configs = args.configs.replace(',bf16,', ',')
            args.skipped = ('plain bf16 left out: this CPU has no native bf16, where it runs a very slow fallback '
                            '(--configs default,bf16 to measure it)')
    args.configs = args.configs.split(',')
    for name in args.configs:
        if name not in CONFIGS:
            parser.error(f'--configs: unknown setting {name!r}; choose from {", ".join(CONFIGS)}')
    if not cuda and ('fp16' in args.configs or ('all' in args.configs and args.all_amp == 'fp16')):
        parser.error('fp16 runs on CUDA only (--device cuda)')
    if cuda and 'onnxruntime' in args.configs:
        parser.error('--backend onnxruntime runs on the CPU (--device cpu)')
    return args


def counts(parser: argparse.ArgumentParser, option: str, text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(',') if part.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        parser.error(f'{option} must be counts >= 1 separated by commas, e.g. 1,2; got {text!r}')
    return list(dict.fromkeys(values))


def config_options(name: str, args: argparse.Namespace) -> list[str]:
    parallel = ['--nThreads', str(args.nThreads), '--write_threads', str(args.write_threads)]
    return {'torch': ['--backend', 'torch'], 'onnxruntime': ['--backend', 'onnxruntime'], 'default': [],
            'channels_last': ['--channels_last'], 'bf16': ['--amp', 'bf16'], 'fp16': ['--amp', 'fp16'],
            'workers+writer': parallel, 'all': ['--amp', args.all_amp, '--channels_last'] + parallel,
            'all_fp32': ['--channels_last'] + parallel}[name]


def write_dataset(root: str, args: argparse.Namespace) -> None:
    """ADE20K-like inputs: blocky label maps over all classes (0 = dontcare .. label_nc) and photos."""
    rng = np.random.default_rng(0)
    os.makedirs(os.path.join(root, 'labels'))
    os.makedirs(os.path.join(root, 'images'))
    for i in range(args.num_images):
        coarse = rng.integers(0, args.label_nc + 1, (args.size // 16, args.size // 16), dtype=np.uint8)
        label = np.kron(coarse, np.ones((16, 16), np.uint8))
        Image.fromarray(label).save(os.path.join(root, 'labels', f'{i:05d}.png'))
        photo = rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)
        Image.fromarray(photo).save(os.path.join(root, 'images', f'{i:05d}.jpg'), quality=90)


def common_options(root: str, args: argparse.Namespace) -> list[str]:
    return ['--name', 'bench', '--checkpoints_dir', os.path.join(root, 'checkpoints'), '--dataset_mode', 'custom',
            '--label_dir', os.path.join(root, 'data', 'labels'), '--image_dir', os.path.join(root, 'data', 'images'),
            '--label_nc', str(args.label_nc), '--contain_dontcare_label', '--no_instance',
            '--crop_size', str(args.size), '--load_size', str(args.size), '--ngf', str(args.ngf),
            '--norm_G', args.norm_G, '--gpu_ids', '0' if args.device == 'cuda' else '-1']


def save_random_generator(root: str, args: argparse.Namespace) -> int:
    opt = TestOptions().parse(common_options(root, args), verbose=False)
    torch.manual_seed(0)
    net = networks.define_G(opt, verbose=False)
    os.makedirs(os.path.join(root, 'checkpoints', 'bench'))
    torch.save(net.state_dict(), os.path.join(root, 'checkpoints', 'bench', 'latest_net_G.pth'))
    return sum(p.numel() for p in net.parameters())


class GeneratorClock:
    """Wraps pipeline.generate_batch: the seconds spent in generator calls of a run."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.seconds, self.calls = device, 0.0, 0
        self.real = pipeline.generate_batch

    def __call__(self, *args, **kwargs):
        sync(self.device)
        start = time.perf_counter()
        fake = self.real(*args, **kwargs)
        sync(self.device)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return fake


@contextlib.contextmanager
def silenced():
    """test.py's printing and progress bar, out of the table's way."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure(name: str, root: str, args: argparse.Namespace, threads: int, batch_size: int) -> dict:
    """One setting at ``threads`` CPU threads and ``batch_size``; torch's thread count is restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # before the model: onnxruntime's session takes its count then
    try:
        return measure_setting(name, root, args, batch_size)
    finally:
        torch.set_num_threads(before)


def measure_setting(name: str, root: str, args: argparse.Namespace, batch_size: int) -> dict:
    results = os.path.join(root, 'results', f'{name}_{torch.get_num_threads()}_{batch_size}')
    opt = TestOptions().parse(common_options(root, args) + config_options(name, args) +
                              ['--results_dir', results, '--batchSize', str(batch_size)], verbose=False)
    with silenced():
        start = time.perf_counter()
        precision = Precision.of(opt)
        model = precision.prepare_module(inference_model(Pix2PixModel(opt), opt).eval())
        first_use = time.perf_counter() - start  # building and loading; an export on onnxruntime's first use
    device, backend = model.device, backend_of(model)
    if args.warmup:
        import data
        dataset = data.create_dataset(opt)
        batch = torch.utils.data.default_collate([dataset[i % len(dataset)] for i in range(batch_size)])
        for _ in range(args.warmup):
            pipeline.generate_batch(model, batch, precision)
        sync(device)
    clock = GeneratorClock(device)
    pipeline.generate_batch = clock
    try:
        with silenced():
            start = time.perf_counter()
            web_dir = pipeline.run_inference(opt, model)
            sync(device)
            seconds = time.perf_counter() - start
    finally:
        pipeline.generate_batch = clock.real
    folder = os.path.join(web_dir, 'images', 'synthesized_image')
    pngs = {f: open(os.path.join(folder, f), 'rb').read() for f in sorted(os.listdir(folder))}
    del model
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    return {'name': name, 'options': ' '.join(config_options(name, args)) or '(none)', 'seconds': seconds,
            'backend': backend, 'threads': torch.get_num_threads(), 'batch': batch_size,
            'first_use': first_use, 'images_per_s': args.num_images / seconds,
            'gen_images_per_s': args.num_images / clock.seconds, 'pngs': pngs}


def compare(row: dict, base: dict) -> tuple[str, str, str]:
    """(PNGs equal byte for byte, the largest difference in levels, the share of values within one level)."""
    same = sum(row['pngs'][f] == base['pngs'].get(f) for f in row['pngs'])
    worst, close, total = 0, 0, 0
    for f, payload in row['pngs'].items():
        a = np.array(Image.open(io.BytesIO(payload))).astype(int)
        b = np.array(Image.open(io.BytesIO(base['pngs'][f]))).astype(int)
        worst = max(worst, int(np.abs(a - b).max()))
        close, total = close + int((np.abs(a - b) <= 1).sum()), total + a.size
    return f'{same}/{len(row["pngs"])}', str(worst), f'{close / total:.2%}'


def print_table(rows: list) -> None:
    """Rows grouped by threads and batch, each against its group's torch row (else its first)."""
    print(f'{"setting":<15} {"backend":<11} {"thr":>3} {"batch":>5} {"options":<46} {"end-to-end img/s":>16} '
          f'{"generator img/s":>15} {"vs torch":>8} {"same PNGs":>9} {"max diff":>8} {"<=1 level":>9}')
    for threads, batch in dict.fromkeys((row['threads'], row['batch']) for row in rows):
        group = [row for row in rows if (row['threads'], row['batch']) == (threads, batch)]
        base = next((row for row in group if row['name'] == 'torch'), group[0])
        for row in group:
            same, worst, close = compare(row, base)
            print(f'{row["name"]:<15} {row["backend"]:<11} {threads:>3} {batch:>5} {row["options"]:<46} '
                  f'{row["images_per_s"]:16.3f} {row["gen_images_per_s"]:15.3f} '
                  f'{row["images_per_s"] / base["images_per_s"]:8.2f} {same:>9} {worst:>8} {close:>9}')


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.device == 'cuda':
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(0)
    else:
        name = (f'CPU ({os.cpu_count()} cores, {torch.backends.cpu.get_cpu_capability()}; threads '
                f'{",".join(map(str, args.thread_counts))})')
    root = tempfile.mkdtemp(prefix='infer_bench_')
    try:
        write_dataset(os.path.join(root, 'data'), args)
        params = save_random_generator(root, args)
        print(f'device: {name}; {args.num_images} images per setting, batch {",".join(map(str, args.batches))}, '
              f'{args.size}x{args.size}, '
              f'ngf {args.ngf}, {args.label_nc}+1 label channels, {args.norm_G}, {params / 1e6:.1f}M parameters '
              f'(random), warm-up {args.warmup} call(s); workers+writer: --nThreads {args.nThreads} '
              f'--write_threads {args.write_threads}', flush=True)
        if args.skipped:
            print(args.skipped)
        rows = []
        for threads in args.thread_counts:
            for batch in args.batches:
                for config in args.configs:
                    rows.append(measure(config, root, args, threads, batch))
                    row = rows[-1]
                    print(f'  {config} ({row["backend"]}), {threads} thread(s), batch {batch}: {row["seconds"]:.1f} s '
                          f'(model ready in {row["first_use"]:.1f} s before it)', flush=True)
        if any(row['backend'] == 'onnxruntime' for row in rows):
            print("  (the first onnxruntime model's time includes exporting and checking the generator; "
                  'later ones read the cache)')
        print_table(rows)
    finally:
        if args.keep:
            print(f'kept {root}')
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
