"""ADE20K (SceneParsing, ``ADEChallengeData2016``) as downloaded.

``--dataroot`` is the ``ADEChallengeData2016`` folder: ``images/{training,validation}/
ADE_{train,val}_*.jpg`` and ``annotations/{training,validation}/ADE_{train,val}_*.png``.
Like SPADE, files are found anywhere under the root by name, so CoCosNet's layout (the
annotations moved beside the images) works too. ``--phase train`` reads the training split,
``val`` and ``test`` the validation split.

Annotations hold 0 = unlabeled and 1..150 = classes. SPADE declares ``--label_nc 150`` with
``--contain_dontcare_label`` and (its post-processing being a no-op) feeds the values as they
are, so the 151 input channels are: channel 0 'unlabeled', channels 1..150 the classes. We
keep that, so SPADE's ADE20K checkpoints see the input they were trained on.
"""
import argparse
import os
import re

from data.conventions import DatasetLabels, SegmenterLabels
from data.image_folder import make_dataset
from data.pix2pix_dataset import Pix2pixDataset, Sources

_NAME = re.compile(r'^ADE_(train|val)_\d+\.(jpg|png)$')

# SceneParsing's objectInfo150: annotation value, then the class's first WordNet name, with a
# second name in brackets where the first alone is ambiguous.
_NAMES = """
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


CLASSES = 150  # annotation values 1..150; 0 is unlabeled
NAMES = ('unlabeled',) + tuple(name for _, name in sorted(_parse_numbered(_NAMES).items()))
# CSAIL's UPerNet numbers the classes 0..149 (annotation value - 1) and does not score unlabeled
LABELS = DatasetLabels(names=NAMES, segmenter=SegmenterLabels(
    f'ADE20K annotation values (0 = unlabeled, 1..{CLASSES} = classes)', CLASSES + 1,
    {value: value - 1 for value in range(1, CLASSES + 1)}))


class ADE20KDataset(Pix2pixDataset):
    labels = LABELS

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        parser = Pix2pixDataset.modify_commandline_options(parser, is_train)
        parser.set_defaults(preprocess_mode='resize_and_crop', load_size=286 if is_train else 256, crop_size=256,
                            display_winsize=256, label_nc=CLASSES, contain_dontcare_label=True,
                            cache_filelist_read=False, cache_filelist_write=False, no_instance=True)
        return parser

    def get_paths(self, opt: argparse.Namespace) -> Sources:
        split = 'train' if opt.phase == 'train' else 'val'
        files = make_dataset(opt.dataroot, recursive=True)
        labels, images = [], []
        for path in files:
            match = _NAME.match(os.path.basename(path))
            if match and match.group(1) == split:
                (images if match.group(2) == 'jpg' else labels).append(path)
        where = os.path.join(opt.dataroot, '**', f'ADE_{split}_*')
        return Sources(labels=labels, label_where=where + '.png', images=images, image_where=where + '.jpg')
