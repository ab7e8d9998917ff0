"""Saving options beside a run (``opt.json`` + readable ``opt.txt``) and reading them back."""
import argparse
import json
import math
import os
import sys

from runs import layout
from util.errors import OptionError
from util.fileio import atomic_write_text

# Options that say how to run rather than what was trained: never taken from opt.json.
RUN_CONTROL = frozenset({
    'name', 'checkpoints_dir', 'gpu_ids', 'phase', 'batchSize', 'serial_batches', 'no_flip',
    'nThreads', 'max_dataset_size', 'load_from_opt_file', 'continue_train', 'which_epoch',
    'how_many', 'results_dir', 'preprocess_mode', 'load_size', 'isTrain', 'dataroot',
    'label_dir', 'image_dir', 'instance_dir', 'cache_filelist_read', 'cache_filelist_write',
    'fid_weights', 'seg_weights', 'fid_cache_dir', 'vgg_weights', 'tb_dir', 'device', 'overwrite_run',
})


def json_path(opt: argparse.Namespace) -> str:
    return layout.file_in(opt, layout.OPTIONS_JSON)


def load_json(opt: argparse.Namespace) -> dict:
    """The saved options: our ``opt.json``, or else SPADE's ``opt.txt`` (SPADE's ``opt.pkl`` is
    never unpickled: loading a pickle can run arbitrary code)."""
    path = json_path(opt)
    text_path = layout.file_in(opt, layout.OPTIONS_TEXT)
    if not os.path.isfile(path) and os.path.isfile(text_path):
        return read_options_text(text_path)
    if not os.path.isfile(path):
        raise OptionError(f"--load_from_opt_file: no options file at {path} (train a model named "
                          f"'{opt.name}' first, or check --checkpoints_dir and --name)")
    try:
        with open(path) as handle:
            saved = json.load(handle)
    except (OSError, ValueError) as exc:
        raise OptionError(f"--load_from_opt_file: cannot read {path}: {exc}")
    if not isinstance(saved, dict):
        raise OptionError(f"--load_from_opt_file: {path} does not hold a JSON object of options")
    return saved


def read_options_text(path: str) -> dict:
    """Options from an ``opt.txt`` as SPADE (and this project) write it: ``key: value`` lines,
    some followed by ``[default: ...]``. Values stay text, which argparse converts with each
    option's type; True/False/None are turned into Python values first."""
    values = {}
    with open(path) as handle:
        for line in handle:
            key, sep, rest = line.strip().partition(': ')
            if not sep or not key.isidentifier():
                continue
            value = rest.split('\t[default:')[0].split('[default:')[0].strip()
            values[key] = {'True': True, 'False': False, 'None': None}.get(value, value)
    if not values:
        raise OptionError(f'--load_from_opt_file: {path} holds no "key: value" option lines')
    return values


def apply_saved_defaults(parser: argparse.ArgumentParser, saved: dict) -> None:
    """Make the saved values the parser's defaults, for the options it knows."""
    known = _dests(parser)
    values = {k: v for k, v in saved.items() if k in known and k not in RUN_CONTROL}
    if values:
        parser.set_defaults(**values)


def format_options(opt: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    lines = ['----------------- Options ---------------']
    for key, value in sorted(vars(opt).items()):
        default = parser.get_default(key)
        comment = f'\t[default: {default}]' if key in _dests(parser) and value != default else ''
        lines.append(f'{key:>25}: {str(value):<30}{comment}')
    lines.append('----------------- End -------------------')
    return '\n'.join(lines)


def render(opt: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, str]:
    """``{path: text}`` of ``opt.json`` (read back by ``--load_from_opt_file``) and ``opt.txt``."""
    values = {k: _jsonable(v) for k, v in sorted(vars(opt).items())}
    command = 'command: ' + ' '.join([os.path.basename(sys.argv[0])] + list(getattr(parser, 'argv', [])))
    return {json_path(opt): json.dumps(values, indent=2) + '\n',
            layout.file_in(opt, layout.OPTIONS_TEXT): command + '\n' + format_options(opt, parser) + '\n'}


def write(files: dict[str, str]) -> None:
    for path, text in files.items():
        atomic_write_text(path, text)


def save(opt: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Write ``opt.json`` and ``opt.txt`` now."""
    write(render(opt, parser))


def _dests(parser: argparse.ArgumentParser) -> set:
    """The parser's option names (argparse has no public list of them: the one private read)."""
    return {action.dest for action in parser._actions}


def _jsonable(value):
    if isinstance(value, float) and math.isinf(value):
        return None if value > 0 else value  # how_many=inf means "all"; JSON has no inf
    if isinstance(value, (str, int, float, bool, list, tuple, dict)) or value is None:
        return value
    return str(value)
