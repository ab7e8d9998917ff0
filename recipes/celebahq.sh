#!/usr/bin/env bash
# CelebA-HQ faces from CelebAMask-HQ masks (19 classes, 256x256): SPADE with its VGG loss,
# PatchNCE, WeightNCE or MoNCE.
#   recipes/celebahq.sh monce --print
#   DATAROOT=datasets/CelebAMask-HQ recipes/celebahq.sh monce
# Where every value comes from: recipes/README.md.
# shellcheck source=recipes/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

DATASET=celebahq
TITLE=CelebA-HQ
DATASET_MODE=celebahq
DATAROOT_DEFAULT=datasets/CelebAMask-HQ
BATCH_DEFAULT=20         # MoNCE supplementary, sec. 2, and the released script train_celebahq.sh
GPUS_DEFAULT=4
NITER=30                 # 60 epochs: supplementary sec. 2; 30 + 30 as in the released script
NITER_DECAY=30
LAMBDA_CONTRASTIVE=100   # released script train_celebahq.sh
DATASET_TRAIN_ARGS=()
EVAL_NEEDS_SEG=0
METRICS_NOTE='FID and SWD on the test split (val.txt of the prepared CoCosNet/MoNCE layout, the official test split of the raw release)'

expected_numbers() {
    local who
    case "$1" in
        vgg) who='its perceptual-loss (SPADE) row; SPADE itself does not report CelebA-HQ' ;;
        patchnce) who='its PatchNCE row' ;;
        weightnce) who='its WeightNCE row' ;;
        monce) who='its MoNCE row' ;;
    esac
    echo "FID, SWD: not recorded in this recipe (the MoNCE paper's paired-translation table, $who)"
    if [[ "$1" == monce && "${OFFICIAL:-0}" == 1 ]]; then
        echo 'the released settings (eps 1, hard cost, last tap only) may differ from those of the paper'"'"'s table'
    fi
}

recipe_main "$@"
