"""Shared by the painter's tests: tiny trained runs, a server in a thread, test.py's output."""
import json
import os
import shlex
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import torch
from PIL import Image

from helpers import REPO, tiny_args


def train_tiny_run(root, name: str, *extra: str, crop: int = 32) -> tuple[str, str]:
    """A few iterations of train.py on the built-in synthetic dataset; (checkpoints_dir, name)."""
    args = tiny_args(root, name, '--synthetic_train_size', '4', '--synthetic_test_size', '12',
                     # the painter needs only the final weights: no losses printed, images shown or saved midway
                     '--print_freq', '100', '--display_freq', '100', '--save_latest_freq', '100',
                     # SPADE's init (gain 0.02) gives a tiny run a flat grey image whatever the map or style;
                     # gain 1 makes both visible in the output, so that comparisons of images mean something
                     '--init_variance', '1.0', *extra, crop=crop)
    proc = subprocess.run([sys.executable, 'train.py'] + args, cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return str(root), name


class Served:
    """A painter server on 127.0.0.1 with a free port, serving from a thread."""

    def __init__(self, painter) -> None:
        from painter.server import serve
        self.painter = painter
        self.server = serve(painter, 0, quiet=True)
        self.url = self.server.url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def request(self, path: str, body: bytes = None, query: dict = None, headers: dict = None):
        """(status, headers, payload) without raising for error statuses."""
        url = self.url + path.lstrip('/') + ('?' + urllib.parse.urlencode(query) if query else '')
        request = urllib.request.Request(url, data=body, method='POST' if body is not None else 'GET',
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def json(self, path: str, **kwargs):
        status, _, payload = self.request(path, **kwargs)
        return status, json.loads(payload)

    def synthesize(self, labels: np.ndarray, **style) -> tuple[int, bytes]:
        query = {'width': labels.shape[1], 'height': labels.shape[0], 'dtype': 'u8'}
        query.update({k: v for k, v in style.items() if v is not None})
        status, _, payload = self.request('api/synthesize', body=labels.astype(np.uint8).tobytes(), query=query)
        return status, payload


def png_array(payload: bytes) -> np.ndarray:
    import io
    return np.array(Image.open(io.BytesIO(payload)))


def scene_map(width: int, height: int) -> np.ndarray:
    """A label map with every synthetic class: sky above, ground bands, a few blobs."""
    labels = np.zeros((height, width), np.uint8)
    labels[height // 2:, :] = 4
    labels[3 * height // 4:, : width // 2] = 5
    labels[height // 5: height // 2, width // 6: width // 2] = 1
    labels[height // 4: height // 3, 2 * width // 3:] = 7
    labels[height // 2: 2 * height // 3, width // 3: 2 * width // 3] = 2
    labels[2, 2:5] = 3
    labels[-3:, -6:] = 6
    return labels


def run_test_py(test_command: str, label_dir, results_dir, *extra: str) -> dict:
    """Runs the test.py command the painter shows (``DIR`` = ``label_dir``) on the CPU; returns
    ``{stem: synthesized image}``."""
    words = shlex.split(test_command.replace('DIR', shlex.quote(str(label_dir))))
    assert words[:2] == ['python', 'test.py'], test_command
    args = words[2:] + ['--gpu_ids', '-1', '--results_dir', str(results_dir)] + list(extra)
    proc = subprocess.run([sys.executable, 'test.py'] + args, cwd=REPO, capture_output=True, text=True,
                          # the served app runs in this process: same thread count, same float sums
                          timeout=600, env=dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads())))
    assert proc.returncode == 0, proc.stderr[-3000:]
    folders = [os.path.join(root, 'synthesized_image') for root, dirs, _ in os.walk(results_dir)
               if 'synthesized_image' in dirs]
    assert len(folders) == 1, folders
    return {os.path.splitext(name)[0]: np.array(Image.open(os.path.join(folders[0], name)))
            for name in os.listdir(folders[0])}
