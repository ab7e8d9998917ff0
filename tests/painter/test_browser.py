"""The painter's page in headless Chromium: paint a stroke, fill, erase, undo, pick a test map,
upload maps, download both files. The downloaded map is checked pixel for pixel against a map
computed here from the same gestures, and the image shown against test.py's for that map.

Needs Selenium, Chromium and chromedriver (``make browser-test`` installs them); skipped
otherwise, saying which is missing."""
import io
import time
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

pytest.importorskip('selenium', reason='selenium is not installed (make browser-test installs it into .venv)')

from painter.browser import BROWSERS, DRIVERS, Page, chrome, find, wait_for_file  # noqa: E402

if not find(BROWSERS):
    pytest.skip('no Chromium found (apt-get install chromium chromium-driver, or make browser-test)',
                allow_module_level=True)
if not find(DRIVERS):
    pytest.skip('no chromedriver found (apt-get install chromium-driver, or make browser-test)',
                allow_module_level=True)

from data.synthetic import render  # noqa: E402
from painter_helpers import run_test_py  # noqa: E402

W = H = 32


def disc(size: int) -> list:
    """The brush's footprint as documented: offsets with dx² + dy² <= (size / 2)²."""
    r = size / 2
    reach = int(np.floor(r))
    return [(dx, dy) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1) if dx * dx + dy * dy <= r * r]


def horizontal_stroke(labels, x0, x1, y, size, cls):
    for x in range(x0, x1 + 1):
        for dx, dy in disc(size):
            if 0 <= x + dx < W and 0 <= y + dy < H:
                labels[y + dy, x + dx] = cls


def vertical_stroke(labels, x, y0, y1, size, cls):
    for y in range(y0, y1 + 1):
        for dx, dy in disc(size):
            if 0 <= x + dx < W and 0 <= y + dy < H:
                labels[y + dy, x + dx] = cls


def flood(labels, x, y, cls):
    regions, _ = ndimage.label(labels == labels[y, x])  # 4-connected: the default structure
    labels[regions == regions[y, x]] = cls


@pytest.fixture
def page(served, tmp_path):
    downloads = tmp_path / 'downloads'
    downloads.mkdir()
    driver = chrome(str(downloads))
    try:
        page = Page(driver, served.url)
        page.downloads = downloads
        yield page
    finally:
        driver.quit()


def as_map(values) -> np.ndarray:
    return np.array(values, dtype=np.uint8).reshape(H, W)


def test_paint_fill_erase_undo_then_download_what_was_painted(page, served, tmp_path):
    expected = np.zeros((H, W), np.uint8)
    assert np.array_equal(as_map(page.labels()), expected)

    # a brush stroke of class 1 ('brick'), 3 pixels wide
    page.choose_class(1)
    page.brush_size(3)
    before = page.version()
    page.drag((0, 6), (W - 1, 6))
    page.changed_and_idle(before)
    horizontal_stroke(expected, 0, W - 1, 6, 3, 1)
    assert np.array_equal(as_map(page.labels()), expected)

    # fill the sky below the stroke with class 4 ('grass'); the sky above it stays
    page.choose_class(4)
    page.choose_tool('fill')
    before = page.version()
    page.drag((10, 20), (10, 20))
    page.changed_and_idle(before)
    flood(expected, 10, 20, 4)
    assert np.array_equal(as_map(page.labels()), expected)

    # erase to class 2 ('sand'): one stroke undone, one kept
    page.choose_tool('erase')
    page.erase_class(2)
    page.brush_size(1)
    before = page.version()
    page.drag((2, 10), (2, 25))
    page.changed_and_idle(before)
    undone = expected.copy()
    vertical_stroke(undone, 2, 10, 25, 1, 2)
    assert np.array_equal(as_map(page.labels()), undone)
    before = page.version()
    page.click('#undo')
    page.changed_and_idle(before)
    assert np.array_equal(as_map(page.labels()), expected)
    page.brush_size(4)  # an even size: the footprint's edge pixels lie exactly at distance size / 2
    before = page.version()
    page.drag((15, 26), (15, 30))
    page.changed_and_idle(before)
    vertical_stroke(expected, 15, 26, 30, 4, 2)
    assert set(np.unique(expected)) == {0, 1, 2, 4}

    # the canvas shows palette colours only: nothing anti-aliased between classes
    colours = np.array(page.js('return window.painter.colors'), np.uint8)
    shown = np.array(page.js("const c = document.getElementById('label-canvas');"
                             "return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"),
                     np.uint8).reshape(H, W, 4)
    assert np.array_equal(shown[..., :3], colours[expected]) and (shown[..., 3] == 255).all()

    # downloads: the label map holds exactly the painted indices, the image is the one shown
    page.click('#download-label')
    label_file = page.downloads / 'tiny_label.png'
    downloaded = np.array(Image.open(io.BytesIO(wait_for_file(str(label_file)))))
    assert np.array_equal(downloaded, expected)
    page.click('#download-image')
    image_bytes = wait_for_file(str(page.downloads / 'tiny_synthesized.png'))
    assert image_bytes == page.shown_image()
    shown_image = np.array(Image.open(io.BytesIO(image_bytes)))
    assert shown_image.shape == (H, W, 3)

    # test.py on the downloaded map gives the image the page shows
    (tmp_path / 'maps').mkdir()
    shutil.copy(label_file, tmp_path / 'maps' / 'tiny_label.png')
    command = page.js('return window.painter.info.test_command')
    expected_image = run_test_py(command, tmp_path / 'maps', tmp_path / 'results')['tiny_label']
    assert np.array_equal(shown_image, expected_image)


def test_upload_and_test_split_maps_replace_the_canvas(page, served, tmp_path):
    small = np.random.default_rng(3).integers(0, 8, (16, 16), dtype=np.uint8)
    Image.fromarray(small).save(tmp_path / 'small.png')
    before = page.version()
    page.driver.find_element('id', 'upload-label').send_keys(str(tmp_path / 'small.png'))
    page.changed_and_idle(before)
    assert np.array_equal(as_map(page.labels()), np.repeat(np.repeat(small, 2, axis=0), 2, axis=1))
    kind, text = page.message()
    assert kind == 'note' and 'resized to 32x32 with nearest neighbour' in text

    colour = np.dstack([small * 30, small, small]).astype(np.uint8)
    Image.fromarray(colour).save(tmp_path / 'colour.png')
    kept = page.labels()
    page.driver.find_element('id', 'upload-label').send_keys(str(tmp_path / 'colour.png'))
    page.wait(lambda: page.message()[0] == 'error', 'no refusal was shown')
    assert 'colour.png: colour (RGB) label map where class indices are expected' in page.message()[1]
    assert page.labels() == kept

    from selenium.webdriver.support.ui import Select
    Select(page.driver.find_element('id', 'test-split')).select_by_value('2')
    before = page.version()
    page.click('#load-test')
    page.changed_and_idle(before)
    seed = served.painter.opt.synthetic_seed
    assert np.array_equal(as_map(page.labels()), render(2, W, seed, 'test')[0])
    # the shown image is the server's for that map
    status, payload = served.synthesize(render(2, W, seed, 'test')[0])
    assert status == 200 and page.shown_image() == payload


def test_a_busy_server_is_asked_again_not_shown_as_an_error(page, served):
    """With every request slot taken the server answers 503 + Retry-After; the page waits and
    asks again, and shows the image once a slot is free."""
    from painter.server import MAX_IN_FLIGHT
    for _ in range(MAX_IN_FLIGHT):
        served.server.slots.acquire()
    try:
        page.choose_class(2)
        before = page.version()
        page.drag((5, 5), (20, 5))
        page.wait(lambda: page.version() > before, 'the page did not take the change')
        time.sleep(1.5)  # the page meets at least one 503 meanwhile
        assert 'busy' not in page.js("return document.getElementById('message').textContent")
    finally:
        for _ in range(MAX_IN_FLIGHT):
            served.server.slots.release()
    page.wait_idle()
    assert page.js("return document.getElementById('message').className") != 'error'
