"""Batch inference: run the generator over a dataset and write SPADE's results layout.

``results/<name>/<phase>_<epoch>/images/{input_label,synthesized_image[,real_image]}/<stem>.png``
plus ``index.html``, where SPADE users look for them.

Result names. ``<stem>`` is the input's file name without its extension, in one flat folder per
kind, as in SPADE, as long as those names are unique in the dataset. When two inputs share a name
(``a/x.png`` and ``b/x.png`` in a nested ``--label_dir``; DeepFashion's many ``01_1_front.jpg``),
every result of the run keeps instead its input's path below the deepest folder common to all
inputs: ``images/synthesized_image/a/x.png`` and ``images/synthesized_image/b/x.png``, the same in
``input_label`` and ``real_image``, and on the page. The layout is decided over the whole dataset,
not over the ``--how_many`` first samples, so an input's results always land at the same place.
Inputs that would still share a result (``x.png`` beside ``x.jpg``) are refused before anything
is written.

Failures end with one line naming the file (:class:`util.errors.UserError`). Checked before the
model is loaded: a missing run or epoch (the message lists the epochs there), a file where a
results folder goes, a folder where a result image goes, a result that would overwrite an input.
While writing: no permission, a read-only or full disk. Images and the page are replaced through a
temporary file and a rename, so a failed write keeps the previous file. A run that stops part-way
(an error, Ctrl-C) keeps the results it finished, lists them on the page and says how many.

Speed (see also README). ``--amp bf16`` (CPU or CUDA) or ``fp16`` (CUDA) runs the generator
under autocast; ``--channels_last`` puts the networks and their input in channels-last memory;
``--nThreads N`` loads batches in N worker processes; ``--write_threads N`` converts, encodes and
writes the images on N background threads (:mod:`inference.writer`) while the generator runs
the next batches, at most ``WRITE_QUEUE_BATCHES`` batches behind. Workers and the background
writer never change a result file (same bytes, same page); a write error found by the writer is
reported as above, with the results finished before it kept and listed. Reduced precision
changes the images slightly. Channels-last is not bit-exact either: its convolution kernels (on
the CPU and in cuDNN) add in another order, so a float32 value near the edge of a uint8 level
can move by one (1 value in 18432 in the tests' tiny run).

Backend (:mod:`inference.backends`). ``--backend onnxruntime`` runs the generator (and the VAE's
encoder) exported to ONNX, cached beside the run; ``auto``, the default, picks it on the CPU and
torch on CUDA or with ``--amp`` / ``--channels_last``. The results, the page and the errors are
the same; float32 images are within one level of torch's (rounding near a level's edge).
"""
import argparse
import errno
import os
from typing import Iterator, Optional, Sequence

import torch
from tqdm import tqdm

import data
from data.conventions import label_image
from data.pix2pix_dataset import Sample
from inference.backends import inference_model
from inference.writer import BackgroundWriter
from models.objective import generate
from models.pix2pix_model import Pix2PixModel
from util import html, util
from runs import layout
from util.errors import DatasetError, UserError, user_message
from util.fileio import blocking_file
from util.precision import FLOAT32, Precision

WRITE_QUEUE_BATCHES = 2  # batches the background writer may lag behind the generator
# errno -> (what happened, what to do)
WRITE_FAILURES = {
    errno.ENOSPC: ('the disk is full', 'free some space and run again'),
    errno.EDQUOT: ('the disk quota is exceeded', 'free some space and run again'),
    errno.EROFS: ('the file system is read-only', 'choose another --results_dir'),
    errno.EACCES: ('permission denied', 'choose another --results_dir'),
    errno.EPERM: ('operation not permitted', 'choose another --results_dir'),
    errno.EISDIR: ('a folder is in the way', 'move it away or choose another --results_dir'),
    errno.ENOTDIR: ('a file is in the way of a folder', 'move it away or choose another --results_dir'),
    errno.EEXIST: ('a file is in the way of a folder', 'move it away or choose another --results_dir'),
}


class OutputError(UserError):
    """A results folder or file that cannot be written."""


class InferenceInterrupted(KeyboardInterrupt):
    """Ctrl-C during inference; the message says what was written before it."""


def results_dir(opt: argparse.Namespace) -> str:
    return os.path.join(opt.results_dir, opt.name, f'{opt.phase}_{opt.which_epoch}')


def model_device(model: torch.nn.Module) -> torch.device:
    device = getattr(model, 'device', None)
    if device is not None:
        return torch.device(device)
    return next(model.parameters()).device


def generate_batch(model: Pix2PixModel, batch: dict, precision: Precision = FLOAT32) -> torch.Tensor:
    """The generator's images for a loader batch: ``model(batch, mode='inference')`` (SPADE's
    call), under ``precision``'s autocast; with channels-last the encoded input is put in
    channels-last memory first (the model should be too: :meth:`Precision.prepare_module`)."""
    with precision.autocast(model_device(model)):
        if not precision.channels_last or not hasattr(model, 'preprocess_input'):
            return model(batch, mode='inference')
        semantics, real = map(precision.prepare_input, model.preprocess_input(batch))
        with torch.no_grad():
            return generate(model.netG, model.netE, semantics, real)[0]


def generated_batches(model: Pix2PixModel, loader, how_many: float,
                      precision: Precision = FLOAT32) -> Iterator[tuple[dict, torch.Tensor]]:
    """Yields (batch, generated images) until ``how_many`` samples, the last batch cut."""
    done = 0
    for batch in loader:
        if done >= how_many:
            break
        keep = int(min(len(batch['path']), how_many - done))
        fake = generate_batch(model, batch, precision)
        batch = {k: (v[:keep] if (torch.is_tensor(v) and v.dim() > 0) or isinstance(v, list) else v)
                 for k, v in batch.items()}
        done += keep
        yield batch, fake[:keep]


def run_inference(opt: argparse.Namespace, model: Optional[Pix2PixModel] = None) -> str:
    """Generates the dataset's images and writes them with an index page; returns the folder.

    ``opt`` is test.py's (:class:`options.test_options.TestOptions`): ``--amp``, ``--channels_last``,
    ``--backend``, ``--nThreads`` and ``--write_threads`` decide how it runs (a given ``model`` is
    converted to channels-last in place with the option; with onnxruntime it is exported, not changed).
    Raises :class:`UserError` for bad input or an unwritable output, and
    :class:`InferenceInterrupted` on Ctrl-C; both messages say what was written."""
    precision = Precision.of(opt)
    if model is None:
        layout.check_generator_exists(opt)
    torch.manual_seed(opt.seed)  # the VAE prior sample and any noise repeat for the same inputs
    dataset = data.create_dataset(opt)
    total = count_to_run(dataset, opt)
    web_dir = results_dir(opt)
    names = plan_outputs(dataset, web_dir, total)
    loader = data.create_dataloader(opt, dataset=dataset)
    model = inference_model(model or Pix2PixModel(opt), opt)  # after the checks: a first export takes a while
    precision.prepare_module(model.eval())
    precision.check(model_device(model))  # an impossible precision is refused before anything is written
    webpage = open_page(web_dir, f'Experiment = {opt.name}, Phase = {opt.phase}, Epoch = {opt.which_epoch}')
    writer = ResultWriter(webpage, names, opt, getattr(dataset, 'has_images', True),
                          threads=opt.write_threads)
    write_all(writer, generated_batches(model, loader, opt.how_many, precision), total)
    save_page(webpage, f'all {writer.written} result images were written')
    return web_dir


# ---------------------------------------------------------------------- before anything is written
def count_to_run(dataset: torch.utils.data.Dataset, opt: argparse.Namespace) -> int:
    """How many samples this run writes: ``--how_many``, or all when there are fewer."""
    size = len(dataset)
    if size == 0:
        where = opt.dataroot or f'--dataset_mode {opt.dataset_mode}'
        raise DatasetError(f'{where}: the dataset has no samples for --phase {opt.phase}; nothing to run')
    if opt.how_many != float('inf') and opt.how_many > size:
        print(f'--how_many {opt.how_many} is more than the {size} samples of the dataset: running all {size}')
    return int(min(size, opt.how_many))


def plan_outputs(dataset: torch.utils.data.Dataset, web_dir: str, total: int) -> dict[str, str]:
    """Result names by input path (see the module docstring), after checking that nothing is in
    the way of the ``total`` first results and that none of them would overwrite an input."""
    kinds = ['input_label', 'synthesized_image'] + (['real_image'] if getattr(dataset, 'has_images', True) else [])
    samples = getattr(dataset, 'samples', None)
    if samples is None:  # generated inputs (the synthetic mode): unique names, nothing to overwrite
        check_folders(web_dir, kinds, [])
        return {}
    paths = [batch_path(sample) for sample in samples]
    names = output_names(paths)
    if any('/' in name for name in names.values()):
        print('input file names repeat in different folders: results keep their sub-folders '
              '(e.g. images/synthesized_image/' + next(n for n in names.values() if '/' in n) + '.png)')
    check_folders(web_dir, kinds, [names[p] for p in paths[:total]])
    check_not_inputs(web_dir, kinds, [names[p] for p in paths[:total]], samples)
    return names


def batch_path(sample: Sample) -> str:
    # the 'path' a Pix2pixDataset sample carries in its batch: the photo, else the label map
    return sample.image or sample.label


def output_names(paths: Sequence[str]) -> dict[str, str]:
    """Result name ('/'-separated, no extension) of each input path: the file stem when stems are
    unique, else the path below the deepest folder common to all. Raises when two still clash."""
    unique = sorted(set(paths))
    stems = {path: os.path.splitext(os.path.basename(path))[0] for path in unique}
    if len(set(stems.values())) == len(stems):
        return stems
    root = os.path.commonpath([os.path.dirname(os.path.abspath(path)) for path in unique])
    names = {path: os.path.splitext(os.path.relpath(os.path.abspath(path), root))[0].replace(os.sep, '/')
             for path in unique}
    owner: dict[str, str] = {}
    for path, name in names.items():
        if owner.setdefault(name, path) != path:
            raise DatasetError(f'{owner[name]} and {path} would both be saved as {name}.png (results are named '
                               'after the input without its extension); rename one of them')
    return names


def check_folders(web_dir: str, kinds: Sequence[str], names: Sequence[str]) -> None:
    """A file where a results folder goes, or a folder where a result image or the page goes,
    would stop the run part-way; refuse it now."""
    image_dir = os.path.join(web_dir, 'images')
    folders = [os.path.join(image_dir, kind) for kind in kinds]
    folders += sorted({os.path.dirname(os.path.join(image_dir, kind, name)) for kind in kinds for name in names
                       if '/' in name})
    for folder in folders:
        blocker = blocking_file(folder)
        if blocker:
            raise OutputError(f'{blocker} is a file, but the results go in a folder there ({folder}); '
                              'move the file away or choose another --results_dir')
    for target in [os.path.join(web_dir, 'index.html')] + result_files(image_dir, kinds, names):
        if os.path.isdir(target):
            raise OutputError(f'{target} is a folder, but a result file goes there; '
                              'move the folder away or choose another --results_dir')


def check_not_inputs(web_dir: str, kinds: Sequence[str], names: Sequence[str], samples: Sequence[Sample]) -> None:
    """Results written into an input folder (e.g. --label_dir set to a previous input_label
    folder) would replace the inputs with pictures of them; refuse that."""
    inputs = {os.path.realpath(path) for sample in samples
              for path in (sample.label, sample.image, sample.instance, *sample.parts) if path}
    for target in result_files(os.path.join(web_dir, 'images'), kinds, names):
        if os.path.realpath(target) in inputs:
            raise OutputError(f'{target} is also an input of this run and would be overwritten by a result; '
                              'choose another --results_dir')


def result_files(image_dir: str, kinds: Sequence[str], names: Sequence[str]) -> list[str]:
    return [os.path.join(image_dir, kind, f'{name}.png') for kind in kinds for name in names]


# ---------------------------------------------------------------------- writing
class ResultWriter:
    """Saves each sample's images under its result name and adds the sample to the page.

    With ``threads`` > 0 the samples are converted and written on that many background threads
    (:class:`inference.writer.BackgroundWriter`), at most ``max_pending`` samples behind
    (default: ``WRITE_QUEUE_BATCHES`` batches); rows are still added in order, each once all its
    images exist. Call :meth:`finish` after the last batch (it raises a late write error), or
    :meth:`stop` after an error."""

    def __init__(self, webpage: html.HTML, names: dict[str, str], opt: argparse.Namespace, has_images: bool,
                 threads: int = 0, max_pending: Optional[int] = None) -> None:
        self.webpage, self.names, self.opt, self.has_images = webpage, names, opt, has_images
        self.owner: dict[str, str] = {}  # result name -> input path, against silent overwrites
        self.written = 0
        self.kinds = ['input_label', 'synthesized_image'] + (['real_image'] if has_images else [])
        self.background = None
        if threads > 0:
            if max_pending is None:
                max_pending = WRITE_QUEUE_BATCHES * opt.batchSize + threads
            self.background = BackgroundWriter(threads, max_pending, self.add_row)

    def save_batch(self, batch: dict, fake: torch.Tensor) -> None:
        if self.background is not None:
            for b, path in enumerate(batch['path']):
                name = self.name_of(path)
                real = batch['image'][b] if self.has_images else None
                self.background.submit(name, self.convert_and_write, name, batch['label'][b], fake[b], real)
            return
        synthesized = util.tensor2im(fake)
        real = util.tensor2im(batch['image']) if self.has_images else None
        for b, path in enumerate(batch['path']):
            visuals = {'input_label': label_image(batch['label'][b], self.opt), 'synthesized_image': synthesized[b]}
            if real is not None:
                visuals['real_image'] = real[b]
            self.save_sample(self.name_of(path), visuals)

    def convert_and_write(self, name: str, label: torch.Tensor, fake: torch.Tensor,
                          real: Optional[torch.Tensor]) -> None:
        """One sample's images, from its tensors (a background job)."""
        visuals = {'input_label': label_image(label, self.opt), 'synthesized_image': util.tensor2im(fake)}
        if real is not None:
            visuals['real_image'] = util.tensor2im(real)
        self.write_images(name, visuals)

    def name_of(self, path: str) -> str:
        name = self.names.get(path) or os.path.splitext(os.path.basename(path))[0]
        if self.owner.setdefault(name, path) != path:  # only reachable for datasets without a sample list
            raise OutputError(f'{self.owner[name]} and {path} would both be saved as {name}.png; rename one of them')
        return name

    def save_sample(self, name: str, visuals: dict) -> None:
        self.write_images(name, visuals)
        # listed only once all its images exist, so a page saved after a stop shows complete rows
        self.add_row(name, list(visuals))

    def write_images(self, name: str, visuals: dict) -> None:
        for kind, array in visuals.items():
            target = os.path.join(self.webpage.get_image_dir(), f'{kind}/{name}.png')
            try:
                util.save_image(array, target)
            except OSError as exc:
                raise write_error(target, exc) from exc

    def add_row(self, name: str, kinds: Optional[Sequence[str]] = None) -> None:
        links = [f'{kind}/{name}.png' for kind in (kinds or self.kinds)]
        self.webpage.add_header(name)
        self.webpage.add_images(links, list(kinds or self.kinds), links, width=self.opt.display_winsize)
        self.written += 1

    def finish(self) -> None:
        """Waits for the background writes; raises the first write error."""
        if self.background is not None:
            self.background.finish()

    def stop(self, cancel: bool = True) -> Optional[BaseException]:
        """After an error or Ctrl-C: lets the background writes end (with ``cancel``, those not
        started are dropped) and lists the finished samples; returns a write error met meanwhile
        that was not raised yet, if any."""
        if self.background is None:
            return None
        return self.background.stop(cancel)

    def partial_note(self, total: int) -> str:
        """Saves the page of the results finished so far; says what was written."""
        if not self.written:
            return 'no result was written'
        try:
            page = self.webpage.save()
        except OSError as exc:
            return (f'{self.written} of {total} results were written to {self.webpage.get_image_dir()} '
                    f'(index.html not updated: {exc.strerror or exc})')
        return f'{self.written} of {total} results were written, {page} lists them'


def write_all(writer: ResultWriter, batches: Iterator[tuple[dict, torch.Tensor]], total: int) -> None:
    try:
        with tqdm(total=total, desc='test', unit='img') as progress:
            for batch, fake in batches:
                writer.save_batch(batch, fake)
                progress.update(writer.written - progress.n)  # behind the generator with a background writer
            writer.finish()
            progress.update(writer.written - progress.n)
    except KeyboardInterrupt as exc:
        writer.stop(cancel=False)  # the generated images are kept (a second Ctrl-C drops the queued ones)
        raise InferenceInterrupted(writer.partial_note(total)) from exc
    except UserError as exc:
        late = writer.stop()
        if not writer.written and late is None:
            raise
        text = user_message(exc)
        if late is not None:  # a second error, from the background writer: said too, never lost
            text += f'; writing also failed: {user_message(late)}'
        if writer.written:
            text += f'; stopped there: {writer.partial_note(total)}'
        raise type(exc)(text) from exc
    except BaseException:
        writer.stop()
        raise


def open_page(web_dir: str, title: str) -> html.HTML:
    try:
        return html.HTML(web_dir, title)
    except OSError as exc:
        raise write_error(exc.filename or web_dir, exc) from exc


def save_page(webpage: html.HTML, done: str) -> str:
    try:
        return webpage.save()
    except OSError as exc:
        page = os.path.join(webpage.web_dir, 'index.html')
        raise write_error(page, exc, f'{done}; the previous page, if any, is unchanged') from exc


def write_error(path: str, exc: OSError, note: str = '') -> OutputError:
    """One line for an OSError while creating or writing ``path``."""
    reason, advice = WRITE_FAILURES.get(exc.errno, (exc.strerror or str(exc), 'check --results_dir'))
    return OutputError(f'{path}: cannot write, {reason}; {advice}' + (f' ({note})' if note else ''))
