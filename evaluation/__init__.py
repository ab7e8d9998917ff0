"""Metrics of generated images: FID (``fid``, ``fid_cache``), mIoU / pixel accuracy
(``segmenters``, ``confusion``), SWD (``swd``); ``suite`` computes them over batches in memory,
``run`` over image folders, ``report`` prints and saves them. See evaluation/README.md.

``options`` and ``settings`` import no metric network, so that the option classes of train.py and
test.py can declare the metric options without loading pytorch-fid or the segmenters; the
modules that compute metrics are imported where metrics are computed."""
