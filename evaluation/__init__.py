"""Metrics of generated images: FID (``fid``, ``fid_cache``), mIoU / pixel accuracy
(``segmenters``, ``confusion``), SWD (``swd``); ``suite`` computes them over batches in memory,
``run`` over image folders, ``report`` prints and saves them. See evaluation/README.md."""
