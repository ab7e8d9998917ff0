"""The painter's server without a browser: a tiny run trained on the built-in dataset, served on
a free port from a thread; images compared with test.py's for the same map, pixel for pixel."""
import argparse
import base64
import http.client
import io
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

import data
from data.ade20k_dataset import NAMES as ADE20K_NAMES
from data.synthetic import CLASS_NAMES, render
from painter.classes import class_table
from painter.engine import MAX_PHOTOS, Painter, parse_options
from painter_helpers import REPO, png_array, run_test_py, scene_map
from util.errors import OptionError

W = H = 32  # the tiny run's --crop_size


def png_bytes(array: np.ndarray, **save) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=save.pop('format', 'PNG'), **save)
    return buffer.getvalue()


def decoded(answer: dict) -> np.ndarray:
    assert answer['dtype'] == 'u8'
    raw = np.frombuffer(base64.b64decode(answer['data']), np.uint8)
    return raw.reshape(answer['height'], answer['width'])


def upload(served, payload: bytes, filename: str):
    return served.json('api/upload_label', body=payload, query={'filename': filename})


def assert_still_serving(served):
    status, info = served.json('api/info')
    assert status == 200 and info['name'] == 'tiny'


# ---------------------------------------------------------------------- classes and palette
def test_info_names_the_builtin_classes_with_distinct_colours(served):
    status, info = served.json('api/info')
    assert status == 200
    assert (info['width'], info['height'], info['dtype'], info['use_vae']) == (W, H, 'u8', False)
    assert [c['name'] for c in info['classes']] == list(CLASS_NAMES)
    assert [c['index'] for c in info['classes']] == list(range(8))
    colours = {tuple(c['color']) for c in info['classes']}
    assert len(colours) == 8
    assert info['classes'][0]['color'][2] > info['classes'][0]['color'][0]  # sky is blue


def table_opt(mode: str, label_nc: int, dontcare: bool, **extra) -> argparse.Namespace:
    return argparse.Namespace(dataset_mode=mode, label_nc=label_nc, contain_dontcare_label=dontcare,
                              dataroot=None, **extra)


def test_class_tables_of_each_dataset_mode():
    ade = class_table(table_opt('ade20k', 150, True))
    assert len(ade) == 151 == len(set(map(tuple, ade.colors)))
    assert (ade.names[0], ade.names[1], ade.names[3], ade.names[13], ade.names[150]) == \
        ('unlabeled', 'wall', 'sky', 'person', 'flag')
    assert len(set(ADE20K_NAMES)) == 151  # every class has its own name
    face = class_table(table_opt('celebahq', 19, False, celebahq_layout='raw'))
    assert face.names[:3] == ['background', 'skin', 'nose'] and face.names[-1] == 'cloth' and len(face) == 19
    prepared = class_table(table_opt('celebahq', 19, False, celebahq_layout='prepared'))
    assert prepared.names[16].startswith('eye_g') and prepared.names[1] == 'class 1' and 'CoCosNet' in prepared.note
    custom = class_table(table_opt('custom', 5, True))
    assert custom.names == ['class 0', 'class 1', 'class 2', 'class 3', 'class 4', 'dontcare']
    city = class_table(table_opt('cityscapes', 35, False))
    assert (city.names[7], city.names[26], city.names[33], city.names[34]) == ('road', 'car', 'bicycle', 'class 34')
    assert len(set(map(tuple, city.colors))) == 35  # SPADE's Cityscapes palette repeats black: not used


# ---------------------------------------------------------------------- the image is test.py's
def test_synthesis_equals_test_py_for_the_downloaded_map(served, tmp_path):
    labels = scene_map(W, H)
    status, payload = served.synthesize(labels)
    assert status == 200
    image = png_array(payload)
    assert image.shape == (H, W, 3) and image.dtype == np.uint8 and image.std() > 5  # not a flat grey

    status, headers, index_png = served.request('api/labelmap', body=labels.tobytes(),
                                                query={'width': W, 'height': H, 'dtype': 'u8'})
    assert status == 200 and 'attachment' in headers['Content-Disposition']
    saved = Image.open(io.BytesIO(index_png))
    assert saved.mode == 'P' and np.array_equal(np.array(saved), labels)  # the pixels are the indices
    (tmp_path / 'maps').mkdir()
    (tmp_path / 'maps' / 'painted.png').write_bytes(index_png)

    _, info = served.json('api/info')
    expected = run_test_py(info['test_command'], tmp_path / 'maps', tmp_path / 'results')['painted']
    assert np.array_equal(image, expected)
    # and the map matters: another map gives another image
    other = labels.copy()
    other[:H // 2] = 6
    assert not np.array_equal(png_array(served.synthesize(other)[1]), image)


# ---------------------------------------------------------------------- uploads
def test_upload_of_an_index_map_of_another_size_is_resized_nearest(served):
    small = np.random.default_rng(0).integers(0, 8, (12, 20), dtype=np.uint8)
    status, answer = upload(served, png_bytes(small), 'small.png')
    assert status == 200
    rows = np.floor((np.arange(H) + 0.5) * 12 / H).astype(int)
    cols = np.floor((np.arange(W) + 0.5) * 20 / W).astype(int)
    assert np.array_equal(decoded(answer), small[rows][:, cols])
    assert 'small.png is 20x12; resized to 32x32 with nearest neighbour' in answer['note']
    # the right size passes unchanged, also as a palette PNG or a grey map saved as RGB
    exact = scene_map(W, H)
    for payload in (png_bytes(exact), png_bytes(np.repeat(exact[..., None], 3, axis=2))):
        status, answer = upload(served, payload, 'exact.png')
        assert status == 200 and np.array_equal(decoded(answer), exact) and answer['note'] == ''


@pytest.mark.parametrize('make, filename, words', [
    (lambda: png_bytes(np.dstack([scene_map(W, H) * 30, scene_map(W, H), scene_map(W, H)]).astype(np.uint8)),
     'colour.png', 'colour (RGB) label map where class indices are expected'),
    (lambda: png_bytes(np.full((H, W), 9, np.uint8)), 'nine.png', "label value 9 is beyond this run's classes (0..7)"),
    (lambda: png_bytes(np.full((H, W), 255, np.uint8)), 'dontcare.png', "label value 255 is beyond this run's"),
    (lambda: png_bytes(scene_map(W, H), format='JPEG'), 'map.jpg', 'JPEG'),
    (lambda: b'not an image at all', 'junk.png', 'junk.png: cannot read image'),
    (lambda: b'', 'empty.png', 'empty.png: the file is empty'),
])
def test_bad_uploads_are_refused_with_the_reason_and_the_server_stays_up(served, make, filename, words):
    status, answer = upload(served, make(), filename)
    assert status == 400
    assert words in answer['error'], answer['error']
    assert 'painter-upload-' not in answer['error']  # names the user's file, not the temporary copy
    assert_still_serving(served)


def test_bad_synthesis_requests_get_clear_errors(served):
    labels = scene_map(W, H)
    status, _, payload = served.request('api/synthesize', body=labels[:16].tobytes(),
                                        query={'width': W, 'height': 16, 'dtype': 'u8'})
    assert status == 400 and 'the label map is 32x16, but this run paints 32x32 maps' in json.loads(payload)['error']
    status, _, payload = served.request('api/synthesize', body=labels.tobytes()[:-1],
                                        query={'width': W, 'height': H, 'dtype': 'u8'})
    assert status == 400 and 'has 1023 bytes' in json.loads(payload)['error']
    status, payload = served.synthesize(labels, style_seed=3)
    assert status == 400 and 'without --use_vae' in json.loads(payload)['error']
    status, answer = served.json('api/style_photo', body=png_bytes(np.zeros((8, 8, 3), np.uint8)))
    assert status == 400 and 'no encoder' in answer['error']
    assert served.request('api/nothing')[0] == 404
    status, _, payload = served.request('api/info', headers={'Host': 'attacker.example:80'})
    assert status == 403 and '127.0.0.1' in json.loads(payload)['error']
    assert_still_serving(served)


def test_an_internal_error_is_reported_and_the_server_stays_up(served, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError('generator exploded')
    monkeypatch.setattr(served.painter, 'synthesize', broken)
    status, payload = served.synthesize(scene_map(W, H))
    assert status == 500 and 'generator exploded' in json.loads(payload)['error']
    monkeypatch.undo()
    assert served.synthesize(scene_map(W, H))[0] == 200


def test_static_page_and_script_are_served(served):
    status, headers, page = served.request('')
    assert status == 200 and headers['Content-Type'].startswith('text/html') and b'label-canvas' in page
    status, headers, script = served.request('painter.js')
    assert status == 200 and b'putImageData' in script


# ---------------------------------------------------------------------- the test split
def test_test_split_of_the_builtin_dataset_renders_its_scenes(served):
    status, split = served.json('api/test_split')
    assert status == 200 and split['items'] == [f'test scene {i}' for i in range(12)]
    status, answer = served.json('api/test_split/5')
    assert status == 200
    assert np.array_equal(decoded(answer), render(5, W, served.painter.opt.synthetic_seed, 'test')[0])
    status, answer = served.json('api/test_split/12')
    assert status == 400 and 'does not exist: the split has 12, numbered 0..11' in answer['error']


def test_test_split_of_a_folder_lists_its_label_files(tiny_run, tmp_path):
    ckpt, name = tiny_run
    (tmp_path / 'labels' / 'sub').mkdir(parents=True)
    Image.fromarray(scene_map(W, H)).save(tmp_path / 'labels' / 'b.png')
    Image.fromarray(scene_map(16, 16)).save(tmp_path / 'labels' / 'sub' / 'a.png')
    painter = Painter.from_argv(['--name', name, '--checkpoints_dir', ckpt, '--gpu_ids', '-1',
                                 '--dataset_mode', 'custom', '--label_dir', str(tmp_path / 'labels')])
    assert painter.test_split() == {'items': ['b.png', os.path.join('sub', 'a.png')], 'reason': ''}
    assert np.array_equal(decoded(painter.test_map(0)), scene_map(W, H))
    assert 'resized to 32x32' in painter.test_map(1)['note']
    without = Painter.from_argv(['--name', name, '--checkpoints_dir', ckpt, '--gpu_ids', '-1',
                                 '--dataset_mode', 'custom'])
    assert without.test_split()['items'] == [] and '--label_dir' in without.test_split()['reason']


# ---------------------------------------------------------------------- refusals at start-up
def fake_run(root, name: str, **options) -> None:
    os.makedirs(os.path.join(root, name))
    with open(os.path.join(root, name, 'opt.json'), 'w') as handle:
        json.dump(options, handle)


def test_deepfashion_runs_are_refused_before_loading_anything(tmp_path):
    fake_run(tmp_path, 'poses', dataset_mode='deepfashion', label_nc=20, no_instance=True)
    with pytest.raises(OptionError) as refused:
        parse_options(['--name', 'poses', '--checkpoints_dir', str(tmp_path)])
    refusal = str(refused.value)
    assert refusal.startswith('--dataset_mode deepfashion: ') and 'pose' in refusal and 'not a label map' in refusal
    proc = subprocess.run([sys.executable, 'app.py', '--name', 'poses', '--checkpoints_dir', str(tmp_path),
                           '--port', '0'], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f'app.py: error: {refusal}'


def test_only_dense_modes_are_refused():
    assert [mode for mode in data.DATASETS if data.dense_input(mode)] == ['deepfashion']


def test_missing_run_is_one_line(tmp_path):
    with pytest.raises(OptionError, match=r'no options file at .*nothing.*opt\.json'):
        parse_options(['--name', 'nothing', '--checkpoints_dir', str(tmp_path)])


# ---------------------------------------------------------------------- --use_vae: styles
def test_vae_default_style_is_test_py_and_new_style_changes_the_image(vae_served, tmp_path):
    labels = scene_map(64, 64)
    status, info = vae_served.json('api/info')
    assert info['use_vae'] and (info['width'], info['height']) == (64, 64)
    default = png_array(vae_served.synthesize(labels)[1])
    assert np.array_equal(default, png_array(vae_served.synthesize(labels)[1]))  # the default repeats

    (tmp_path / 'maps').mkdir()
    Image.fromarray(labels).save(tmp_path / 'maps' / 'm.png')
    expected = run_test_py(info['test_command'], tmp_path / 'maps', tmp_path / 'results')['m']
    assert np.array_equal(default, expected)

    one, again, two = (png_array(vae_served.synthesize(labels, style_seed=s)[1]) for s in (1, 1, 2))
    assert np.array_equal(one, again)
    assert np.abs(one.astype(int) - default).mean() > 1 and np.abs(one.astype(int) - two).mean() > 1


def test_vae_style_photo_sets_the_style_as_test_py_with_that_photo(vae_served, tmp_path):
    labels = scene_map(64, 64)
    _, info = vae_served.json('api/info')
    rng = np.random.default_rng(1)
    photos = {'warm': np.zeros((64, 64, 3), np.uint8), 'noise': rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
              # of another size, with the map's shape: resized to the map's size (bicubic) as test.py's loader does
              'big': rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)}
    photos['warm'][..., 0], photos['warm'][..., 1] = 230, 120
    images = {}
    for name, photo in photos.items():
        status, answer = vae_served.json('api/style_photo', body=png_bytes(photo), query={'filename': f'{name}.png'})
        assert status == 200, answer
        status, payload = vae_served.synthesize(labels, photo=answer['photo'])
        assert status == 200
        images[name] = png_array(payload)
    assert np.abs(images['warm'].astype(int) - images['noise']).mean() > 1
    default = png_array(vae_served.synthesize(labels)[1])
    assert np.abs(images['warm'].astype(int) - default).mean() > 1

    # test.py with --image_dir holding the photo, as it is, gives the same image. The photo of
    # another size is the one compared: its path (read, resize, encode) covers a same-size
    # photo's, which skips only the resize; one test.py run, as the sampled z depends on a
    # map's place in test.py's order
    (tmp_path / 'maps').mkdir()
    (tmp_path / 'photos').mkdir()
    Image.fromarray(labels).save(tmp_path / 'maps' / 'face.png')
    Image.fromarray(photos['big']).save(tmp_path / 'photos' / 'face.png')
    expected = run_test_py(info['test_command'], tmp_path / 'maps', tmp_path / 'results',
                           '--image_dir', str(tmp_path / 'photos'))['face']
    assert np.array_equal(images['big'], expected)
    assert np.abs(images['big'].astype(int) - images['noise']).mean() > 1  # the resized photo is its own style

    status, payload = vae_served.synthesize(labels, photo='0123456789abcdef')
    assert status == 400 and 'upload it again' in json.loads(payload)['error']
    status, answer = vae_served.json('api/style_photo', body=b'garbage', query={'filename': 'me.jpg'})
    assert status == 400 and answer['error'].startswith('me.jpg: cannot read image')


def test_style_photos_beyond_the_cache_limit_drop_the_oldest(vae_served):
    labels = scene_map(64, 64)

    def upload_photo(i: int) -> str:
        status, answer = vae_served.json('api/style_photo', body=png_bytes(np.full((8, 8, 3), i, np.uint8)),
                                         query={'filename': f'p{i}.png'})
        assert status == 200, answer
        return answer['photo']

    def kept(photo: str) -> bool:
        status, payload = vae_served.synthesize(labels, photo=photo)
        assert status == 200 or (status == 400 and 'upload it again' in json.loads(payload)['error'])
        return status == 200

    ids = [upload_photo(i) for i in range(MAX_PHOTOS + 1)]
    assert len(set(ids)) == MAX_PHOTOS + 1
    assert (kept(ids[0]), kept(ids[1]), kept(ids[-1])) == (False, True, True)
    # uploading a kept photo again makes it the newest: the next new one drops the oldest other
    assert upload_photo(1) == ids[1]
    upload_photo(MAX_PHOTOS + 1)
    assert (kept(ids[1]), kept(ids[2]), kept(ids[3])) == (True, False, True)
    assert len(vae_served.painter.photos) == MAX_PHOTOS  # the dropped photos' tensors are released


def raw_post(served, path: str, content_length: str) -> tuple[int, bytes]:
    """A POST whose Content-Length header is as given (urllib always writes the true one)."""
    connection = http.client.HTTPConnection('127.0.0.1', served.server.server_address[1], timeout=60)
    try:
        connection.putrequest('POST', path)
        connection.putheader('Content-Length', content_length)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


SEEDS = "style_seed must be an integer in 0..18446744073709551615, got '{}'"
LABELS = scene_map(64, 64)


@pytest.mark.parametrize('ask, words', [
    (lambda s: s.synthesize(LABELS, style_seed=2 ** 64), SEEDS.format(2 ** 64)),  # was a 500 from manual_seed
    (lambda s: s.synthesize(LABELS, style_seed=-2 ** 63 - 1), SEEDS.format(-2 ** 63 - 1)),
    (lambda s: s.synthesize(LABELS, style_seed=-1), SEEDS.format(-1)),
    (lambda s: s.synthesize(LABELS, style_seed='1.5'), SEEDS.format('1.5')),
    (lambda s: s.request('api/synthesize', body=LABELS.tobytes(), query={'width': 10 ** 30, 'height': 64}),
     f"width must be an integer in 1..65535, got '{10 ** 30}'"),
    (lambda s: s.request('api/labelmap', body=LABELS.tobytes(), query={'width': 64, 'height': '64 '}),
     "height must be an integer in 1..65535, got '64 '"),
    (lambda s: s.request('api/test_split/' + '1' * 5000),  # was a 500: int() refuses 5000 digits
     'the test map number must be an integer in 0..2147483647, got '),
    (lambda s: raw_post(s, '/api/synthesize?width=64&height=64', '-5'),  # was read as an empty body
     "the upload's size in bytes (Content-Length; 64 MiB at most) must be an integer in 0..67108864, got '-5'"),
])
def test_numbers_out_of_range_are_refused_with_the_allowed_range(vae_served, ask, words):
    result = ask(vae_served)
    status, error = result[0], json.loads(result[-1])['error']
    assert status == 400 and words in error, (status, error)
    assert vae_served.synthesize(LABELS, style_seed=2 ** 64 - 1)[0] == 200  # the top of the range is a style


def test_concurrent_requests_each_get_the_image_of_their_map(vae_served):
    """Threads ask at once; each answer is the one a lone request gets (the sampled style
    included, which needs the random state and the generator call under one lock)."""
    maps = [scene_map(64, 64), np.roll(scene_map(64, 64), 7, axis=1), np.full((64, 64), 3, np.uint8)]
    expected = [png_array(vae_served.synthesize(m)[1]) for m in maps]
    results = {}

    def ask(i):
        results[i] = vae_served.synthesize(maps[i % 3])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 9
    for i, (status, payload) in results.items():
        assert status == 200 and np.array_equal(png_array(payload), expected[i % 3])
