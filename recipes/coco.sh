#!/usr/bin/env bash
# COCO-Stuff (182 labels + instance edges, 256x256): SPADE with its VGG loss, PatchNCE, WeightNCE or
# MoNCE. The MoNCE paper has no COCO-Stuff experiment: the contrastive configurations transfer its
# ADE20K settings (see recipes/README.md).
#   recipes/coco.sh vgg --print
#   DATAROOT=datasets/coco_stuff recipes/coco.sh vgg
# shellcheck source=recipes/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

DATASET=coco
TITLE=COCO-Stuff
DATASET_MODE=coco
DATAROOT_DEFAULT=datasets/coco_stuff
BATCH_DEFAULT=32         # SPADE paper: batch 32 on 8 GPUs
GPUS_DEFAULT=8
NITER=50                 # SPADE: 100 epochs on COCO-Stuff
NITER_DECAY=50
LAMBDA_CONTRASTIVE=50    # not in the paper: ADE20K's value
DATASET_TRAIN_ARGS=()
EVAL_NEEDS_SEG=0
METRICS_NOTE='FID on the 5000 validation images (this project has no COCO-Stuff segmenter: mIoU / accuracy need DeepLab-v2 on the test.py images)'

expected_numbers() {
    case "$1" in
        vgg)
            echo 'FID 22.6, mIoU 37.4, accuracy 67.9  (SPADE paper, Table 1; mIoU/accuracy with DeepLab-v2)'
            echo 'SWD: not reported' ;;
        *)
            echo 'FID, mIoU, accuracy, SWD: not reported (the MoNCE paper has no COCO-Stuff experiment)' ;;
    esac
}

recipe_main "$@"
