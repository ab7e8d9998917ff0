"""The results of an evaluation as a printed table and as ``metrics.json``.

``metrics.json`` holds the numbers as computed: ``fid``; ``miou`` and ``pixel_acc`` as fractions
in [0,1] (the table shows percent, as papers do); ``swd`` (x1e3, mean over levels) and
``swd_levels`` (x1e3, by level height); ``texture_error`` (0 = the real textures, 1 = flat) and
``texture_error_classes`` (by class name); ``num_images``; and ``info`` on how they were obtained.
A metric that the images do not define (mIoU without a labelled pixel, FID of one image, the
texture error against real images without texture) is NaN in the results, "not defined" in the
table and null in ``metrics.json``; the metric says why in a warning.
"""
import errno
import json
import math
import os
from typing import Optional

from evaluation.images import printable
from util.errors import UserError
from util.fileio import atomic_write_text, nearest_existing

METRICS_FILE = 'metrics.json'
NOT_DEFINED = 'not defined'


def _rows(results: dict) -> list[tuple[str, str]]:
    rows = []
    if 'fid' in results:
        rows.append(('FID', format_number(results['fid'], '{:.2f}')))
    if 'miou' in results:
        rows.append(('mIoU', format_number(results['miou'], '{:.2%}')))
        rows.append(('pixel accuracy', format_number(results['pixel_acc'], '{:.2%}')))
    if 'swd' in results:
        rows.append(('SWD (x1e3, mean)', format_number(results['swd'], '{:.2f}')))
        for height, value in results.get('swd_levels', {}).items():
            rows.append((f'  SWD {height}px', format_number(value, '{:.2f}')))
    if 'texture_error' in results:
        rows.append(('texture error (1 = flat)', format_number(results['texture_error'], '{:.3f}')))
        for name, value in results.get('texture_error_classes', {}).items():
            rows.append((f'  texture {name}', format_number(value, '{:.3f}')))
    if 'num_images' in results:
        rows.append(('images', str(results['num_images'])))
    return rows


def format_number(value: Optional[float], form: str = '{:.4g}') -> str:
    """NaN (or None) is a metric the images do not define: said as such, never 'nan'."""
    return NOT_DEFINED if value is None or math.isnan(value) else form.format(value)


def format_table(results: dict) -> str:
    """A two-column table of the metrics present in ``results``."""
    rows = [('metric', 'value')] + _rows(results)
    left = max(len(name) for name, _ in rows)
    right = max(len(value) for _, value in rows)
    rule = f"+-{'-' * left}-+-{'-' * right}-+"
    lines = [f'| {name:<{left}} | {value:>{right}} |' for name, value in rows]
    return '\n'.join([rule, lines[0], rule, *lines[1:], rule])


def default_output_path(fake_dir: str) -> str:
    """``metrics.json`` beside the generated images' folder (in its parent)."""
    return os.path.join(os.path.dirname(os.path.abspath(os.path.normpath(fake_dir))), METRICS_FILE)


def check_output_path(path: str, what: str = '--out') -> None:
    """Fails (before any work is done) when the metrics file cannot be created at ``path``:
    a folder where the file goes, or a file where one of its folders goes. ``what`` names
    the path in the message (the option, or 'the output file' for the default)."""
    shown = printable(path)
    if os.path.isdir(path):
        raise UserError(f"{what} '{shown}' is a folder, not a file: give the file to write with --out, e.g. "
                        f"--out {printable(os.path.join(path, METRICS_FILE))}")
    folder = nearest_existing(os.path.dirname(os.path.abspath(path)))  # below it: what write_metrics creates
    if not os.path.isdir(folder):
        raise UserError(f"{what} '{shown}' cannot be created: '{printable(folder)}' is a file, not a folder; "
                        f"choose another file with --out")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{what} '{shown}' cannot be created: no permission to write in '{printable(folder)}'; "
                        f"choose another file with --out")


def write_metrics(results: dict, path: str) -> None:
    """Writes ``results`` as JSON atomically (NaN, e.g. mIoU without labelled pixels, as null);
    an operating-system error (full disk, permissions) becomes one :class:`UserError` line
    naming ``path``, and leaves no partial file."""
    text = json.dumps(_json_safe(results), indent=2, sort_keys=True) + '\n'
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise UserError(f"{printable(path)}: cannot write the metrics, {_reason(exc)}; free some space or choose "
                        f"another file with --out (the table above has the results)") from None


def _reason(exc: OSError) -> str:
    reasons = {errno.ENOSPC: 'the disk is full', errno.EDQUOT: 'the disk quota is exceeded',
               errno.EACCES: 'permission denied', errno.EROFS: 'the file system is read-only'}
    return reasons.get(exc.errno, exc.strerror or ' '.join(str(exc).split()))


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

