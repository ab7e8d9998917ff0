"""The metrics table and metrics.json."""
import json
import math
import os

from evaluation.report import default_output_path, format_table, write_metrics

RESULTS = {'fid': 12.3456, 'miou': 0.385, 'pixel_acc': 0.7912, 'swd': 20.5,
           'swd_levels': {'256': 30.0, '128': 11.0}, 'num_images': 2000}


def test_table_lists_each_metric_once_with_papers_units():
    table = format_table(RESULTS)
    lines = table.splitlines()
    assert len({len(line) for line in lines}) == 1  # a rectangle
    body = '\n'.join(lines)
    for expected in ('| FID', '12.35', 'mIoU', '38.50%', 'pixel accuracy', '79.12%', 'SWD (x1e3, mean)', '20.50',
                     'SWD 256px', '30.00', 'SWD 128px', '11.00', '2000'):
        assert expected in body
    assert 'mIoU' not in format_table({'fid': 1.0})


def test_metrics_json_is_written_atomically_with_nan_as_null(tmp_path):
    path = str(tmp_path / 'sub' / 'metrics.json')
    write_metrics(dict(RESULTS, miou=float('nan')), path)
    saved = json.loads(open(path).read())
    assert saved['fid'] == 12.3456 and saved['miou'] is None and saved['swd_levels'] == {'256': 30.0, '128': 11.0}
    assert os.listdir(tmp_path / 'sub') == ['metrics.json']  # no temporary file left behind


def test_default_output_is_beside_the_generated_folder(tmp_path):
    fake_dir = tmp_path / 'images' / 'synthesized_image'
    assert default_output_path(str(fake_dir) + os.sep) == str(tmp_path / 'images' / 'metrics.json')


def test_a_metric_not_defined_is_said_so_in_the_table_and_null_in_the_file(tmp_path):
    nan = math.nan
    results = {'fid': nan, 'miou': nan, 'pixel_acc': nan, 'swd': nan, 'swd_levels': {'16': nan},
               'texture_error': nan, 'texture_error_classes': {'sky': nan, 'rose': 0.5}, 'num_images': 1}
    table = format_table(results)
    assert 'nan' not in table.lower()
    for name in ('FID', 'mIoU', 'pixel accuracy', 'SWD (x1e3, mean)', '  SWD 16px', 'texture error (1 = flat)',
                 '  texture sky'):
        assert any(line.startswith(f'| {name} ') and line.endswith(' not defined |') for line in table.splitlines()), name
    assert '0.500' in table
    write_metrics(results, str(tmp_path / 'metrics.json'))
    saved = json.loads((tmp_path / 'metrics.json').read_text())
    assert saved['fid'] is None and saved['swd_levels'] == {'16': None} and saved['texture_error_classes']['rose'] == 0.5
