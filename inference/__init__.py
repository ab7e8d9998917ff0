"""Inference as an application: ``test.py``'s pipeline (:mod:`inference.pipeline`) — a dataset
through the generator into SPADE's results folder and web page."""
