"""The painter's model side: the run loaded as test.py loads it, and one synthesis at a time.

Same path as test.py, so that the painter's image for a map equals test.py's for that map saved
as a file (``test.py --name NAME --load_from_opt_file --dataset_mode custom --label_dir DIR
--preprocess_mode fixed``):

- options: :class:`options.test_options.TestOptions` with ``--load_from_opt_file``, i.e. the
  run's ``opt.json`` (or SPADE's ``opt.txt``) under the command line;
- model: :class:`models.pix2pix_model.Pix2PixModel` (EMA generator when saved, ``--no_ema``,
  the encoder with ``--use_vae``), built right after ``torch.manual_seed(opt.seed)`` as
  :func:`inference.pipeline.run_inference` builds it, then run by ``--backend`` as test.py runs
  it (:func:`inference.backends.inference_model`: onnxruntime on the CPU by default); the test.py
  command the page shows names the backend that ran here;
- batch: the sample a custom label-only dataset gives for the map (labels as int64, a zero
  photo), through the project's data loader and :func:`inference.pipeline.generated_batches`,
  the random state restored to the one test.py has there, so a VAE run's sampled style is
  test.py's too; :func:`util.util.tensor2im` makes the image.

Styles of a ``--use_vae`` run: the default is test.py's (the encoder sees the zero photo of a
label-only dataset); a style photo replaces the zero photo (= test.py with ``--image_dir``
holding that photo); a style seed draws z from the prior N(0, I) with that seed instead of
encoding anything ("new style").

Runs with instance maps get the label map as their instance map (one instance per class
region), which is test.py with ``--instance_dir`` set to the label folder.
"""
import argparse
import base64
import copy
import hashlib
import os
import shlex
import threading
import time
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np
import torch

import data
from data.geometry import image_tensor, index_tensor
from inference.backends import backend_of, inference_model
from inference.pipeline import generated_batches
from models.pix2pix_model import Pix2PixModel
from options import opt_file
from options.test_options import TestOptions
from painter.classes import class_table
from painter.labelmaps import (RequestError, decode_indices, dtype_for, encode_indices, image_png,
                               read_label_upload, read_photo_upload, resize_nearest)
from painter.params import SEED_RANGE, SIDE_RANGE, query_int
from runs import layout
from util import util
from util.errors import OptionError, UserError, user_message
from util.precision import Precision

MAX_PHOTOS = 16  # style photos kept in memory, most recent first out last



def refuse_dense_input(mode: Optional[str]) -> None:
    if mode and data.dense_input(mode):
        raise OptionError(f"--dataset_mode {mode}: this run's input is a dense map of channels (a rendered pose), "
                          "not a label map of classes, so there is nothing to paint; run test.py on its input "
                          "files instead")


class RandomState:
    """torch's random state (CPU and every CUDA device) at one moment, to return to it."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state_all(self.cuda)


def parse_options(argv: Sequence[str], options: Optional[TestOptions] = None) -> argparse.Namespace:
    """test.py's options (or those of ``options``, e.g. app.py's) for the run ``--name`` with its
    saved options as defaults (the command line still wins); refuses a run whose input cannot be
    painted."""
    argv, options = list(argv), options or TestOptions()
    if any(arg in ('-h', '--help') for arg in argv):
        return options.parse(argv, verbose=False)  # prints the help and exits
    pre = argparse.ArgumentParser(add_help=False)
    for option in ('--name', '--checkpoints_dir', '--dataset_mode', '--label_dir'):
        pre.add_argument(option)
    seen, _ = pre.parse_known_args(argv)
    if not seen.name:
        raise OptionError('--name is required: the run to paint with (a folder in --checkpoints_dir)')
    if '--load_from_opt_file' not in argv:
        argv.append('--load_from_opt_file')
    where = argparse.Namespace(name=seen.name, checkpoints_dir=seen.checkpoints_dir or './checkpoints')
    mode = seen.dataset_mode or opt_file.load_json(where).get('dataset_mode')
    refuse_dense_input(mode)
    if mode == 'custom' and seen.label_dir is None:
        argv += ['--label_dir', '']  # required by the custom mode; only lists the test maps here
    opt = options.parse(argv, verbose=False)
    refuse_dense_input(opt.dataset_mode)
    return opt


def canvas_size(opt: argparse.Namespace) -> tuple[int, int]:
    """(width, height) of the maps the generator takes: ``--crop_size`` wide, as tall as the
    aspect ratio makes it (what ``--preprocess_mode fixed`` gives)."""
    return opt.crop_size, max(1, round(opt.crop_size / opt.aspect_ratio))


class Painter:
    """The run, its classes, and a lock so that one generator call runs at a time."""

    def __init__(self, opt: argparse.Namespace) -> None:
        refuse_dense_input(opt.dataset_mode)
        self.opt = opt
        self.size = canvas_size(opt)
        self.classes = class_table(opt)
        self.num_classes = len(self.classes)
        self.dtype = dtype_for(self.num_classes)
        self.lock = threading.Lock()
        layout.check_generator_exists(opt)
        torch.manual_seed(opt.seed)  # as run_inference, just before building the model
        self.model = Pix2PixModel(opt)
        self.model.eval()
        self.model = inference_model(self.model, opt)  # --backend: torch, or an ONNX copy run by onnxruntime
        self.backend = backend_of(self.model)
        self.precision = Precision.of(opt)  # test.py's --amp and --channels_last
        self.precision.prepare_module(self.model)
        self.precision.check(self.model.device)  # refuses an impossible precision now
        self.rng = RandomState()  # test.py's random state when its loader starts
        self.loader_opt = copy.copy(opt)
        self.loader_opt.nThreads, self.loader_opt.batchSize = 0, 1
        self.photos: OrderedDict = OrderedDict()
        self._photos_lock = threading.Lock()
        self._split = None
        self._split_lock = threading.Lock()

    @classmethod
    def from_argv(cls, argv: Sequence[str]) -> 'Painter':
        return cls(parse_options(argv))

    # ------------------------------------------------------------------ what the page shows
    def info(self) -> dict:
        opt = self.opt
        width, height = self.size
        return {
            'name': opt.name, 'epoch': opt.which_epoch, 'dataset_mode': opt.dataset_mode,
            'width': width, 'height': height, 'dtype': self.dtype,
            'classes': self.classes.as_json(), 'note': self.classes.note,
            'use_vae': bool(opt.use_vae), 'seed': opt.seed, 'device': str(self.model.device), 'backend': self.backend,
            'instances_from_labels': not opt.no_instance,
            'test_command': self.test_command(),
        }

    def test_command(self) -> str:
        """The test.py command that gives the painter's image for a downloaded map in DIR."""
        opt = self.opt
        quote = shlex.quote
        words = ['python test.py', '--name', quote(opt.name), '--checkpoints_dir', quote(opt.checkpoints_dir),
                 '--which_epoch', quote(str(opt.which_epoch)), '--load_from_opt_file', '--dataset_mode custom',
                 '--label_dir DIR', '--preprocess_mode fixed']
        if not opt.no_instance:
            words.append('--instance_dir DIR')
        if opt.no_ema:
            words.append('--no_ema')
        words += ['--backend', self.backend]  # what ran here, whatever test.py's auto would pick
        return ' '.join(words + self.precision.flags())

    # ------------------------------------------------------------------ synthesis
    def sample(self, labels: np.ndarray, photo: Optional[torch.Tensor] = None) -> dict:
        """The dataset item a custom label-only dataset (or one with ``--image_dir``, given a
        photo) gives for ``labels`` under ``--preprocess_mode fixed``."""
        width, height = self.size
        return {
            'label': index_tensor(labels, np.int64),
            'instance': 0 if self.opt.no_instance else index_tensor(labels, np.int32),
            'image': photo if photo is not None else torch.zeros(3, height, width),
            'path': 'painted.png',
        }

    def synthesize(self, labels: np.ndarray, style_seed: Optional[int] = None,
                   photo: Optional[str] = None) -> np.ndarray:
        """The (H, W, 3) uint8 image for ``labels`` (H, W class indices)."""
        if labels.shape != self.size[::-1]:
            raise RequestError(f'the label map is {labels.shape[1]}x{labels.shape[0]}, but this run paints '
                               f'{self.size[0]}x{self.size[1]} maps')
        if (style_seed is not None or photo is not None) and not self.opt.use_vae:
            raise RequestError('this run was trained without --use_vae: it has no style to change, the label map '
                               'alone decides the image')
        photo_tensor = self.photos.get(photo) if photo is not None else None
        if photo is not None and photo_tensor is None:
            raise RequestError('that style photo is no longer on the server; upload it again')
        item = self.sample(labels, photo_tensor)
        with self.lock:
            if style_seed is None:
                self.rng.restore()
                loader = data.create_dataloader(self.loader_opt, dataset=[item])
                _, fake = next(generated_batches(self.model, loader, 1, self.precision))
            else:
                batch = torch.utils.data.default_collate([item])
                semantics, _ = self.model.preprocess_input(batch)
                z = torch.randn(1, self.opt.z_dim, generator=torch.Generator().manual_seed(style_seed))
                with self.precision.autocast(self.model.device), torch.no_grad():
                    fake = self.model.netG(semantics, z=z.to(semantics.device))
            return util.tensor2im(fake[0])

    def synthesize_request(self, body: bytes, query: dict) -> tuple[bytes, float]:
        """What POST /api/synthesize does: the page's raw map -> generator -> PNG bytes;
        returns them with the seconds the synthesis took (waiting for the lock included)."""
        labels = self.decode(body, query)
        seed = query_int(query, 'style_seed', *SEED_RANGE, required=False)
        start = time.perf_counter()
        image = self.synthesize(labels, style_seed=seed, photo=query.get('photo') or None)
        seconds = time.perf_counter() - start
        return image_png(image), seconds

    def decode(self, body: bytes, query: dict) -> np.ndarray:
        width, height = query_int(query, 'width', *SIDE_RANGE), query_int(query, 'height', *SIDE_RANGE)
        if (width, height) != self.size:
            raise RequestError(f'the label map is {width}x{height}, but this run paints '
                               f'{self.size[0]}x{self.size[1]} maps')
        return decode_indices(body, width, height, query.get('dtype', self.dtype), self.num_classes)

    # ------------------------------------------------------------------ uploads
    def upload_label(self, payload: bytes, filename: str) -> dict:
        labels, note = read_label_upload(payload, filename, self.opt, self.size, self.num_classes)
        return self.map_json(labels, note)

    def map_json(self, labels: np.ndarray, note: Optional[str]) -> dict:
        return {'width': self.size[0], 'height': self.size[1], 'dtype': self.dtype, 'note': note or '',
                'data': base64.b64encode(encode_indices(labels, self.num_classes)).decode('ascii')}

    def upload_photo(self, payload: bytes, filename: str) -> dict:
        if not self.opt.use_vae:
            raise RequestError('this run was trained without --use_vae: it has no encoder, so a photo cannot set '
                               'its style')
        photo = read_photo_upload(payload, filename, self.size)
        key = hashlib.sha256(payload).hexdigest()[:16]
        with self._photos_lock:  # not the generator's lock: an upload need not wait for a synthesis
            self.photos[key] = image_tensor(photo)
            self.photos.move_to_end(key)
            while len(self.photos) > MAX_PHOTOS:
                self.photos.popitem(last=False)
        return {'photo': key, 'note': f'style from {filename}'}

    # ------------------------------------------------------------------ the dataset's test split
    def test_split(self) -> dict:
        """``{'items': [names], 'reason': why none}`` for the run's test split."""
        with self._split_lock:
            if self._split is None:
                self._split = self._list_test_split()
        items, reason, _ = self._split
        return {'items': items, 'reason': reason}

    def test_map(self, index: int) -> dict:
        self.test_split()
        items, reason, load = self._split
        if not items:
            raise RequestError(f'no test split to pick from: {reason}')
        if not 0 <= index < len(items):
            raise RequestError(f'test map {index} does not exist: the split has {len(items)}, '
                               f'numbered 0..{len(items) - 1}')
        try:
            labels = load(index)
        except UserError as exc:
            raise RequestError(user_message(exc)) from None
        note = None
        if labels.shape != self.size[::-1]:
            note = (f'{items[index]} is {labels.shape[1]}x{labels.shape[0]}; resized to {self.size[0]}x'
                    f'{self.size[1]} with nearest neighbour')
            labels = resize_nearest(labels, self.size)
        return self.map_json(labels, note)

    def _list_test_split(self) -> tuple[list, str, object]:
        opt = self.opt
        if opt.dataset_mode == 'synthetic':
            from data.synthetic import render
            count = opt.synthetic_test_size
            width = self.size[0]
            return ([f'test scene {i}' for i in range(count)], '',
                    lambda i: render(i, width, opt.synthetic_seed, 'test')[0])
        if opt.dataset_mode == 'custom' and not opt.label_dir:
            return [], 'start app.py with --label_dir DIR to list the label maps of a folder', None
        split_opt = copy.copy(opt)
        split_opt.phase = 'test'
        try:
            dataset = data.create_dataset(split_opt)
        except UserError as exc:
            return [], user_message(exc), None
        samples = getattr(dataset, 'samples', [])
        root = os.path.commonpath([os.path.dirname(os.path.abspath(s.label)) for s in samples]) if samples else ''
        names = [os.path.relpath(os.path.abspath(s.label), root) for s in samples]
        return names, '' if names else 'the test split is empty', lambda i: dataset.read_label(samples[i])
