"""Models: the option setter of ``--model`` (SPADE's only model, pix2pix).

The pieces: :mod:`models.pix2pix_networks` (the networks of a run), :mod:`models.input_encoding`
(a batch -> the generator's input), :mod:`models.objective` (the loss terms) and
:mod:`models.pix2pix_model` (SPADE's inference entry point).
"""
from models.pix2pix_model import Pix2PixModel
from util.errors import choose

MODELS = {'pix2pix': Pix2PixModel}


def get_option_setter(model_name: str):
    return choose(MODELS, model_name, 'model').modify_commandline_options
