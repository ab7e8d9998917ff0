"""Experiments built on the framework: the seeded loss study (``experiments/loss_study.py``)."""
