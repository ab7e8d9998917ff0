#!/usr/bin/env bash
# DeepFashion pose keypoints -> person (CoCosNet's layout, 20-channel pose map, 256x256): SPADE with
# its VGG loss, PatchNCE, WeightNCE or MoNCE.
#   recipes/deepfashion.sh monce --print
#   DATAROOT=datasets/DeepFashion recipes/deepfashion.sh monce
# Where every value comes from: recipes/README.md.
# shellcheck source=recipes/_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/_lib.sh"

DATASET=deepfashion
TITLE=DeepFashion
DATASET_MODE=deepfashion
DATAROOT_DEFAULT=datasets/DeepFashion
BATCH_DEFAULT=20         # MoNCE supplementary, sec. 2
GPUS_DEFAULT=4
NITER=50                 # 100 epochs: supplementary sec. 2; split half and half like the released scripts
NITER_DECAY=50
LAMBDA_CONTRASTIVE=100   # no released script: CelebA-HQ's value (the other CoCosNet-prepared dataset)
DATASET_TRAIN_ARGS=()
EVAL_NEEDS_SEG=0
METRICS_NOTE='FID and SWD on the images of val.txt'

expected_numbers() {
    local who
    case "$1" in
        vgg) who='its perceptual-loss (SPADE) row; SPADE itself does not report DeepFashion' ;;
        patchnce) who='its PatchNCE row' ;;
        weightnce) who='its WeightNCE row' ;;
        monce) who='its MoNCE row' ;;
    esac
    echo "FID, SWD: not recorded in this recipe (the MoNCE paper's paired-translation table, $who)"
    if [[ "$1" == monce && "${OFFICIAL:-0}" == 1 ]]; then
        echo 'the released code has no DeepFashion script; its loss settings are those of its ADE20K / CelebA-HQ runs'
    fi
}

recipe_main "$@"
