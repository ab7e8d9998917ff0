"""test.py's results page links every image so that a browser finds it, whatever the file
names hold: '#', '?', '%', spaces, and bytes that are not UTF-8."""
import os
import re
import subprocess
import sys
from urllib.parse import unquote_to_bytes, urlsplit

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import REPO, tiny_test_args
from models import networks
from options.test_options import TestOptions

# what a browser would misread if written as they are: a fragment, a query, an escape, a space,
# and a Latin-1 name (b'caf\xe9') that is not UTF-8
AWKWARD = ['a#1', 'b?2', 'c d', 'e%41', os.fsdecode(b'caf\xe9')]


def cli_args(root, results) -> list:
    return tiny_test_args(root / 'ckpt', 'tiny', '--results_dir', str(results), '--dataset_mode', 'custom',
                          '--label_dir', str(root / 'labels'), '--image_dir', str(root / 'images'), '--label_nc', '5',
                          '--no_instance')


@pytest.fixture(scope='module')
def results_page(tmp_path_factory) -> str:
    """test.py run on a folder of awkwardly named maps and photos; the page's path."""
    root = tmp_path_factory.mktemp('awkward')
    os.makedirs(root / 'labels')
    os.makedirs(root / 'images')
    for i, stem in enumerate(AWKWARD):
        label = np.full((32, 32), i % 5, np.uint8)
        label[:16] = (i + 1) % 5
        Image.fromarray(label).save(os.path.join(root / 'labels', stem + '.png'))
        Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(os.path.join(root / 'images', stem + '.jpg'))
    args = cli_args(root, root / 'results')
    torch.manual_seed(0)
    generator = networks.define_G(TestOptions().parse(args, verbose=False), verbose=False)
    os.makedirs(root / 'ckpt' / 'tiny')
    torch.save(generator.state_dict(), root / 'ckpt' / 'tiny' / 'latest_net_G.pth')
    proc = subprocess.run([sys.executable, 'test.py'] + args, cwd=REPO, capture_output=True,
                          env=dict(os.environ, OMP_NUM_THREADS='1'), timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors='replace')[-2000:]
    return os.path.join(root, 'results', 'tiny', 'test_latest', 'index.html')


def links(page: str) -> list:
    return re.findall(r'(?:src|href)="([^"]*)"', page)


def test_every_link_reaches_its_file(results_page):
    raw = open(results_page, 'rb').read()
    page = raw.decode('utf-8')  # strict: a raw non-UTF-8 byte in the page fails here
    found = links(page)
    assert len(found) == 2 * 3 * len(AWKWARD)  # an <img src> and an <a href> per image
    web = os.fsencode(os.path.dirname(results_page))
    for link in found:
        parts = urlsplit(link)  # as a browser splits it: '#' and '?' would end the path
        assert not parts.query and not parts.fragment and not parts.scheme, link
        assert os.path.isfile(os.path.join(web, unquote_to_bytes(parts.path))), link
    reached = {os.path.basename(unquote_to_bytes(urlsplit(link).path)) for link in found}
    assert reached == {os.fsencode(stem) + b'.png' for stem in AWKWARD}
    # the Latin-1 name is shown readably, not as a raw byte
    assert 'caf\ufffd' in page


def test_results_page_loads_every_image_in_chromium(results_page):
    pytest.importorskip('selenium', reason='selenium is not installed (make browser-test installs it into .venv)')
    from painter.browser import BROWSERS, DRIVERS, chrome, find
    if not (find(BROWSERS) and find(DRIVERS)):
        pytest.skip('no Chromium or chromedriver (apt-get install chromium chromium-driver, or make browser-test)')
    driver = chrome()
    try:
        driver.get('file://' + results_page)
        images = driver.execute_script(
            'return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])')
    finally:
        driver.quit()
    assert len(images) == 3 * len(AWKWARD)
    assert all(loaded for _, loaded in images), [src for src, loaded in images if not loaded]
