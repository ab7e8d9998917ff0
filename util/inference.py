"""Batch inference: run the generator over a dataset and write SPADE's results layout.

``results/<name>/<phase>_<epoch>/images/{input_label,synthesized_image[,real_image]}/<stem>.png``
plus ``index.html``, where SPADE users look for them.
"""
import argparse
import os
from typing import Iterator

import torch
from tqdm import tqdm

import data
from models.pix2pix_model import Pix2PixModel
from util import html, util


def results_dir(opt: argparse.Namespace) -> str:
    return os.path.join(opt.results_dir, opt.name, f'{opt.phase}_{opt.which_epoch}')


def visual_label(label: torch.Tensor, opt: argparse.Namespace):
    if label.is_floating_point():
        return util.dense2im(label)
    return util.tensor2label(label, opt.label_nc + 2)


def generated_batches(model: Pix2PixModel, loader, how_many: float) -> Iterator[tuple[dict, torch.Tensor]]:
    """Yields (batch, generated images) until ``how_many`` samples, the last batch cut."""
    done = 0
    for batch in loader:
        if done >= how_many:
            break
        keep = int(min(len(batch['path']), how_many - done))
        fake = model(batch, mode='inference')
        batch = {k: (v[:keep] if (torch.is_tensor(v) and v.dim() > 0) or isinstance(v, list) else v)
                 for k, v in batch.items()}
        done += keep
        yield batch, fake[:keep]


def run_inference(opt: argparse.Namespace, model: Pix2PixModel = None) -> str:
    """Generates the dataset's images and writes them with an index page; returns the folder."""
    torch.manual_seed(opt.seed)  # the VAE prior sample and any noise repeat for the same inputs
    dataset = data.create_dataset(opt)
    loader = data.create_dataloader(opt, dataset=dataset)
    model = model or Pix2PixModel(opt)
    model.eval()
    web_dir = results_dir(opt)
    webpage = html.HTML(web_dir, f'Experiment = {opt.name}, Phase = {opt.phase}, Epoch = {opt.which_epoch}')
    total = min(len(dataset), opt.how_many)
    with tqdm(total=int(total), desc='test', unit='img') as progress:
        for batch, fake in generated_batches(model, loader, opt.how_many):
            save_batch(webpage, batch, fake, opt, getattr(dataset, 'has_images', True))
            progress.update(fake.size(0))
    webpage.save()
    return web_dir


def save_batch(webpage: html.HTML, batch: dict, fake: torch.Tensor, opt: argparse.Namespace,
               has_images: bool) -> None:
    synthesized = util.tensor2im(fake)
    real = util.tensor2im(batch['image']) if has_images else None
    for b, path in enumerate(batch['path']):
        name = os.path.splitext(os.path.basename(path))[0]
        visuals = {'input_label': visual_label(batch['label'][b], opt), 'synthesized_image': synthesized[b]}
        if real is not None:
            visuals['real_image'] = real[b]
        webpage.add_header(name)
        names = [os.path.join(key, f'{name}.png') for key in visuals]
        for image_name, array in zip(names, visuals.values()):
            util.save_image(array, os.path.join(webpage.get_image_dir(), image_name))
        webpage.add_images(names, list(visuals), names, width=opt.display_winsize)
