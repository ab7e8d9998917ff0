#!/usr/bin/env bash
# Cityscapes (35 labels + instance edges, 512x256): SPADE with its VGG loss, PatchNCE, WeightNCE or
# MoNCE. The MoNCE paper has no paired Cityscapes experiment: the contrastive configurations
# transfer its ADE20K settings (see recipes/README.md).
#   recipes/cityscapes.sh vgg --print
#   DATAROOT=datasets/cityscapes recipes/cityscapes.sh vgg
# shellcheck source=recipes/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

DATASET=cityscapes
TITLE=Cityscapes
DATASET_MODE=cityscapes
DATAROOT_DEFAULT=datasets/cityscapes
BATCH_DEFAULT=32         # SPADE paper: batch 32 on 8 GPUs (SPADE's code defaults Cityscapes to 16)
GPUS_DEFAULT=8
NITER=100                # SPADE: 200 epochs on Cityscapes
NITER_DECAY=100
LAMBDA_CONTRASTIVE=50    # not in the paper: ADE20K's value
DATASET_TRAIN_ARGS=()
EVAL_NEEDS_SEG=0
METRICS_NOTE='FID on the 500 validation images (this project has no Cityscapes segmenter: mIoU / accuracy need DRN-D-105 on the test.py images)'

expected_numbers() {
    case "$1" in
        vgg)
            echo 'FID 71.8, mIoU 62.3, accuracy 81.9  (SPADE paper, Table 1; mIoU/accuracy with DRN-D-105)'
            echo 'SWD: not reported' ;;
        *)
            echo 'FID, mIoU, accuracy, SWD: not reported (the MoNCE paper trains paired models on ADE20K, CelebA-HQ'
            echo 'and DeepFashion only; its Cityscapes numbers are for unpaired translation, a different task)' ;;
    esac
}

recipe_main "$@"
