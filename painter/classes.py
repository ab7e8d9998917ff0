"""The classes a run paints with: index, name and swatch colour, per dataset mode.

Indices are the values a label map holds, exactly as the run's data loader reads them:

- ``ade20k``: 0 = unlabeled, 1..150 = the SceneParsing classes (annotation values, which
  SPADE feeds as they are; see :mod:`data.ade20k_dataset`);
- ``celebahq``: the raw CelebAMask-HQ layout's 19 classes (:data:`data.celebahq_dataset.CLASS_NAMES`);
  the ``prepared`` layout numbers them CoCosNet's way, which is not documented beyond glasses = 16;
- ``cityscapes``: the 34 label ids of ``*_gtFine_labelIds.png`` (35 channels, 34 unused);
- ``synthetic``: the built-in dataset's 8 classes (:data:`data.synthetic.CLASS_NAMES`);
- anything else (``custom``, ``coco``): numbered.

With ``--contain_dontcare_label`` index ``label_nc`` is SPADE's dontcare channel (a 255 in a
file becomes it). Swatches are the colours test.py gives ``input_label`` images (SPADE's
palette), except for the built-in dataset, whose classes have their own hues.
"""
import argparse
from dataclasses import dataclass

import numpy as np

from options.channels import label_channels
from util.util import labelcolormap

# ADE20K SceneParsing (objectInfo150): annotation value, then the class's first WordNet name,
# with a second name in brackets where the first alone is ambiguous.
_ADE20K = """
1 wall|2 building|3 sky|4 floor|5 tree|6 ceiling|7 road|8 bed|9 windowpane (window)|10 grass
11 cabinet|12 sidewalk|13 person|14 earth (ground)|15 door|16 table|17 mountain|18 plant|19 curtain|20 chair
21 car|22 water|23 painting (picture)|24 sofa|25 shelf|26 house|27 sea|28 mirror|29 rug (carpet)|30 field
31 armchair|32 seat|33 fence|34 desk|35 rock|36 wardrobe|37 lamp|38 bathtub|39 railing|40 cushion
41 base (pedestal)|42 box|43 column|44 signboard|45 chest of drawers|46 counter|47 sand|48 sink|49 skyscraper
50 fireplace|51 refrigerator|52 grandstand|53 path|54 stairs|55 runway|56 case (showcase)|57 pool table
58 pillow|59 screen door|60 stairway|61 river|62 bridge|63 bookcase|64 blind (screen)|65 coffee table
66 toilet|67 flower|68 book|69 hill|70 bench|71 countertop|72 stove|73 palm (tree)|74 kitchen island
75 computer|76 swivel chair|77 boat|78 bar|79 arcade machine|80 hovel (hut)|81 bus|82 towel|83 light (source)
84 truck|85 tower|86 chandelier|87 awning|88 streetlight|89 booth|90 television|91 airplane|92 dirt track
93 apparel (clothes)|94 pole|95 land (soil)|96 bannister (handrail)|97 escalator|98 ottoman|99 bottle
100 buffet (sideboard)|101 poster|102 stage|103 van|104 ship|105 fountain|106 conveyer belt|107 canopy
108 washer (washing machine)|109 plaything (toy)|110 swimming pool|111 stool|112 barrel|113 basket
114 waterfall|115 tent|116 bag|117 minibike (motorbike)|118 cradle|119 oven|120 ball|121 food|122 step
123 tank (storage)|124 trade name (brand)|125 microwave|126 pot (flowerpot)|127 animal|128 bicycle|129 lake
130 dishwasher|131 screen (projection)|132 blanket|133 sculpture|134 hood (exhaust)|135 sconce|136 vase
137 traffic light|138 tray|139 ashcan (trash can)|140 fan|141 pier (dock)|142 crt screen|143 plate
144 monitor|145 bulletin board|146 shower|147 radiator|148 glass (drinking)|149 clock|150 flag
"""


def _parse_numbered(text: str) -> dict[int, str]:
    entries = {}
    for item in text.replace('\n', '|').split('|'):
        if item.strip():
            number, name = item.strip().split(' ', 1)
            entries[int(number)] = name
    return entries


ADE20K_NAMES = ['unlabeled'] + [name for _, name in sorted(_parse_numbered(_ADE20K).items())]

# Cityscapes label ids (cityscapesScripts' labels.py), as in *_gtFine_labelIds.png
CITYSCAPES_NAMES = [
    'unlabeled', 'ego vehicle', 'rectification border', 'out of roi', 'static', 'dynamic', 'ground', 'road',
    'sidewalk', 'parking', 'rail track', 'building', 'wall', 'fence', 'guard rail', 'bridge', 'tunnel', 'pole',
    'polegroup', 'traffic light', 'traffic sign', 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car',
    'truck', 'bus', 'caravan', 'trailer', 'train', 'motorcycle', 'bicycle',
]


@dataclass(frozen=True)
class ClassTable:
    names: list          # name of each index 0..len-1
    colors: np.ndarray   # (len, 3) uint8 swatches, all different
    note: str = ''       # shown in the page when the names are uncertain

    def __len__(self) -> int:
        return len(self.names)

    def as_json(self) -> list:
        return [{'index': i, 'name': name, 'color': [int(c) for c in self.colors[i]]}
                for i, name in enumerate(self.names)]


def _known_names(opt: argparse.Namespace) -> tuple[list, str]:
    mode = opt.dataset_mode
    if mode == 'synthetic':
        from data.synthetic import CLASS_NAMES
        return list(CLASS_NAMES), ''
    if mode == 'ade20k':
        return list(ADE20K_NAMES), ''
    if mode == 'cityscapes':
        return list(CITYSCAPES_NAMES), ''
    if mode == 'celebahq':
        from data.celebahq_dataset import CLASS_NAMES, PREPARED_GLASSES
        if _celebahq_layout(opt) == 'prepared':
            names = [''] * (PREPARED_GLASSES + 1)
            names[PREPARED_GLASSES] = 'eye_g (glasses)'
            return names, ("CelebAMask-HQ's prepared layout numbers the parts CoCosNet's way; only glasses (16) "
                           "is known, the others are numbered")
        return list(CLASS_NAMES), ''
    return [], ''


def _celebahq_layout(opt: argparse.Namespace) -> str:
    layout = getattr(opt, 'celebahq_layout', 'auto')
    if layout == 'auto' and opt.dataroot:
        from data.celebahq_dataset import detect_layout
        return detect_layout(opt.dataroot)
    return layout if layout != 'auto' else 'raw'


def class_table(opt: argparse.Namespace) -> ClassTable:
    """Names and swatches of the indices ``0 .. label_channels(opt) - 1`` the run's generator reads."""
    count = label_channels(opt)
    known, note = _known_names(opt)
    names = []
    for index in range(count):
        if index < len(known) and known[index]:
            names.append(known[index])
        elif opt.contain_dontcare_label and index == opt.label_nc:
            names.append('dontcare')
        else:
            names.append(f'class {index}')
    if opt.dataset_mode == 'synthetic' and count <= 8:
        from data.synthetic import CLASS_RGB
        colors = np.round(CLASS_RGB[:count] * 255).astype(np.uint8)
    else:
        colors = labelcolormap(opt.label_nc + 2)[:count]  # test.py's input_label colours
        if len(np.unique(colors, axis=0)) < count:  # SPADE's 35-entry Cityscapes palette repeats colours
            colors = labelcolormap(max(count, 36))[:count]
    return ClassTable(names, np.asarray(colors, dtype=np.uint8), note)
