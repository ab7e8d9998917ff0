"""Models: SPADE's ``create_model(opt)`` entry point and the model option setter."""
import argparse

from models.pix2pix_model import Pix2PixModel
from util.errors import choose

MODELS = {'pix2pix': Pix2PixModel}


def _model_class(name: str) -> type:
    return choose(MODELS, name, 'model')


def get_option_setter(model_name: str):
    return _model_class(model_name).modify_commandline_options


def create_model(opt: argparse.Namespace) -> Pix2PixModel:
    model = _model_class(opt.model)(opt)
    print(f'model [{type(model).__name__}] was created')
    return model
