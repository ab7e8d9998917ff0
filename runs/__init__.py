"""A run's files: ``<checkpoints_dir>/<name>/``, what each file is called, how it is written and read.

- :mod:`runs.layout`: the folder and every file name (SPADE's ``<tag>_net_<label>.pth``, the
  options, logs, snapshots, the best generator), and the rule that a run is never trained over
  by mistake;
- :mod:`runs.networks`: one network file: saved atomically, loaded strictly with
  ``weights_only=True``, a mismatch explained with the option that probably differs; the
  loading of the generator inference runs (the EMA copy unless ``--no_ema``);
- :mod:`runs.snapshot`: a training snapshot (all network files plus a hashed training state,
  with fallback to the previous one), pruning snapshots down to what inference needs, the best
  generator, SPADE's ``iter.txt``.

Nothing else in the project joins a run's paths or names its files.
"""
