# shellcheck shell=bash
# Shared part of the training recipes; sourced by recipes/<dataset>.sh, not run on its own.
#
# A dataset script sets the variables below, defines `expected_numbers CONFIG` (prints the
# paper's numbers for one configuration) and ends with `recipe_main "$@"`.
#
#   DATASET            short name, used in run names (ade20k)
#   TITLE              dataset as printed (ADE20K)
#   DATASET_MODE       --dataset_mode
#   DATAROOT_DEFAULT   where the dataset is expected when DATAROOT is not set
#   BATCH_DEFAULT      global batch (--batchSize)
#   GPUS_DEFAULT       processes/GPUs on one machine
#   NITER, NITER_DECAY epochs at the constant learning rate, epochs of linear decay
#   LAMBDA_CONTRASTIVE --lambda_vgg for patchnce / weightnce / monce (vgg always uses SPADE's 10)
#   DATASET_TRAIN_ARGS extra train.py options of the dataset (array, may be empty)
#   METRICS_NOTE       what evaluate.py measures on this dataset (one line)
#   EVAL_NEEDS_SEG     1 when evaluate.py needs --seg_weights (mIoU / accuracy)

set -euo pipefail

CONFIGS=(vgg patchnce weightnce monce)
SPADE_LAMBDA_VGG=10
SPADE_TAPS=relu1_1,relu2_1,relu3_1,relu4_1,relu5_1
PAPER_TAPS=relu1_2,relu2_2,relu3_2,relu4_2,relu5_2
TAP_WEIGHTS=1/32,1/16,1/8,1/4,1

RECIPES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$RECIPES_DIR")"

recipe_usage() {
    local me="recipes/${DATASET}.sh"
    cat <<EOF
usage: $me CONFIG [--print | --evaluate] [-- TRAIN_OPTIONS...]

Trains SPADE on $TITLE with one perceptual loss, as the MoNCE paper's experiments do.

  CONFIG       vgg (SPADE's VGG L1 loss) | patchnce | weightnce | monce
               (with --print also: all)
  --print      print the settings, the expected numbers and the commands; run nothing
               (DRY_RUN=1 does the same)
  --evaluate   run the evaluate.py command (after training)
  -- ...       further train.py options, appended as given (e.g. -- --continue_train,
               -- --amp bf16); they are not part of the paper's recipe. With --evaluate,
               further evaluate.py options instead (e.g. -- --how_many 500)

Environment (defaults in brackets):
  DATAROOT         dataset folder [$DATAROOT_DEFAULT]
  GPUS             GPUs on this machine; 1 runs plain python [$GPUS_DEFAULT]
  BATCH            global batch, split over the GPUs [$BATCH_DEFAULT]
  NAME             run name [${DATASET}_CONFIG]
  CHECKPOINTS_DIR  --checkpoints_dir [./checkpoints]
  VGG_WEIGHTS      --vgg_weights: imagenet or a vgg19-dcbb9e9d.pth path [imagenet]
  LAMBDA_VGG       --lambda_vgg [vgg: $SPADE_LAMBDA_VGG, contrastive: $LAMBDA_CONTRASTIVE]
  NTHREADS         data-loading workers per process [4]
  OFFICIAL=1       monce only: the released code's loss settings (--monce_preset official)
  FID_WEIGHTS      evaluate.py --fid_weights (pytorch-fid Inception file), for offline machines
  SEG_WEIGHTS      evaluate.py --seg_weights (ADE20K only) [ckpt/ade20k-resnet101-upernet]
  PYTHON, TORCHRUN interpreter and launcher [.venv/bin/... when present, else python, torchrun]

Paths are taken relative to the repository root, where the commands run.
See recipes/README.md for where each setting comes from.
EOF
}

die() {
    echo "recipes/${DATASET}.sh: error: $*" >&2
    exit 2
}

# One shell-quoted line: what is printed can be pasted back into a shell.
quoted() {
    local out='' arg q="'"
    for arg in "$@"; do
        if [[ "$arg" =~ ^[A-Za-z0-9_./,:=+@%-]+$ ]]; then
            out+="$arg "
        else
            out+="'${arg//$q/$q\\$q$q}' "
        fi
    done
    printf '%s' "${out% }"
}

config_title() {
    case "$1" in
        vgg) echo 'SPADE + VGG perceptual loss' ;;
        patchnce) echo 'PatchNCE' ;;
        weightnce) echo 'WeightNCE' ;;
        monce) echo 'MoNCE' ;;
    esac
}

# The loss options of one configuration, spelled out (the values are also the defaults today,
# written here so that the recipe keeps its meaning if a default changes).
loss_args() {
    local config="$1"
    case "$config" in
        vgg)
            LOSS_ARGS=(--perceptual_loss vgg --vgg_layers "$SPADE_TAPS" --vgg_layer_weights "$TAP_WEIGHTS") ;;
        patchnce)
            LOSS_ARGS=(--perceptual_loss patchnce --vgg_layers "$PAPER_TAPS" --vgg_layer_weights "$TAP_WEIGHTS"
                       --num_patches 256 --nce_T 0.07) ;;
        weightnce)
            LOSS_ARGS=(--perceptual_loss weightnce --vgg_layers "$PAPER_TAPS" --vgg_layer_weights "$TAP_WEIGHTS"
                       --num_patches 256 --nce_T 0.07 --weight_mode easy --weight_beta 0.1 --neg_term_weight 1) ;;
        monce)
            if [[ "${OFFICIAL:-0}" == 1 ]]; then
                LOSS_ARGS=(--perceptual_loss monce --monce_preset official)
            else
                LOSS_ARGS=(--perceptual_loss monce --vgg_layers "$PAPER_TAPS" --vgg_layer_weights "$TAP_WEIGHTS"
                           --num_patches 256 --nce_T 0.07 --nce_modulated_layers all --ot_cost easy --ot_eps 0.1
                           --neg_term_weight 1)
            fi ;;
    esac
}

build_commands() {
    local config="$1"
    shift
    local gpus="${GPUS:-$GPUS_DEFAULT}" batch="${BATCH:-$BATCH_DEFAULT}"
    [[ "$gpus" =~ ^[1-9][0-9]*$ ]] || die "GPUS must be a positive integer, got '$gpus'"
    [[ "$batch" =~ ^[1-9][0-9]*$ ]] || die "BATCH must be a positive integer, got '$batch'"
    (( batch % gpus == 0 )) || die "BATCH=$batch (the global batch) does not split evenly over GPUS=$gpus; \
choose GPUS that divides it (the paper's batch $BATCH_DEFAULT: GPUS=$(divisors "$BATCH_DEFAULT"))"
    if [[ "${OFFICIAL:-0}" == 1 && "$config" != monce ]]; then
        die "OFFICIAL=1 applies to monce only (the released code has no $config settings of its own)"
    fi

    local lambda
    if [[ "$config" == vgg ]]; then lambda="${LAMBDA_VGG:-$SPADE_LAMBDA_VGG}"; else lambda="${LAMBDA_VGG:-$LAMBDA_CONTRASTIVE}"; fi
    local suffix=''
    [[ "${OFFICIAL:-0}" == 1 ]] && suffix=_official
    RUN_NAME="${NAME:-${DATASET}_${config}${suffix}}"
    DATAROOT_USED="${DATAROOT:-$DATAROOT_DEFAULT}"
    GPUS_USED="$gpus"; BATCH_USED="$batch"; LAMBDA_USED="$lambda"

    local python="${PYTHON:-}" torchrun="${TORCHRUN:-}"
    if [[ -z "$python" ]]; then
        if [[ -x "$REPO_DIR/.venv/bin/python" ]]; then python=.venv/bin/python; else python=python; fi
    fi
    if [[ -z "$torchrun" ]]; then
        if [[ -x "$REPO_DIR/.venv/bin/torchrun" ]]; then torchrun=.venv/bin/torchrun; else torchrun=torchrun; fi
    fi

    local common=(--name "$RUN_NAME" --dataset_mode "$DATASET_MODE" --dataroot "$DATAROOT_USED")
    [[ -n "${CHECKPOINTS_DIR:-}" ]] && common+=(--checkpoints_dir "$CHECKPOINTS_DIR")

    loss_args "$config"
    local train_args=("${common[@]}" --batchSize "$batch" --niter "$NITER" --niter_decay "$NITER_DECAY"
                      --lambda_vgg "$lambda" "${LOSS_ARGS[@]}" --vgg_weights "${VGG_WEIGHTS:-imagenet}"
                      --nThreads "${NTHREADS:-4}")
    if (( ${#DATASET_TRAIN_ARGS[@]} )); then train_args+=("${DATASET_TRAIN_ARGS[@]}"); fi
    (( gpus == 1 )) && train_args+=(--gpu_ids 0)
    if (( $# )); then train_args+=("$@"); fi  # last, so that they win over the recipe's values
    if (( gpus == 1 )); then
        TRAIN_CMD=("$python" train.py "${train_args[@]}")
    else
        TRAIN_CMD=("$torchrun" --standalone --nproc_per_node "$gpus" train.py "${train_args[@]}")
    fi

    EVAL_CMD=("$python" evaluate.py model "${common[@]}")
    if [[ "${EVAL_NEEDS_SEG:-0}" == 1 ]]; then
        EVAL_CMD+=(--seg_weights "${SEG_WEIGHTS:-ckpt/ade20k-resnet101-upernet}")
    fi
    [[ -n "${FID_WEIGHTS:-}" ]] && EVAL_CMD+=(--fid_weights "$FID_WEIGHTS")
    if (( ${#EVAL_EXTRA[@]} )); then EVAL_CMD+=("${EVAL_EXTRA[@]}"); fi
    return 0
}

divisors() {
    local n="$1" d out=''
    for (( d = 1; d <= n; d++ )); do (( n % d == 0 )) && out+="$d,"; done
    printf '%s' "${out%,}"
}

print_plan() {
    local config="$1"
    local title
    title="$(config_title "$config")"
    [[ "${OFFICIAL:-0}" == 1 ]] && title+=' (released-code loss settings)'
    echo "== $title on $TITLE  [recipes/${DATASET}.sh $config] =="
    echo "settings: global batch $BATCH_USED on $GPUS_USED GPU(s) ($(( BATCH_USED / GPUS_USED )) per GPU), \
$(( NITER + NITER_DECAY )) epochs ($NITER + $NITER_DECAY decay), --lambda_vgg $LAMBDA_USED, SPADE's other defaults"
    echo "expected (paper):"
    expected_numbers "$config" | sed 's/^/  /'
    echo "measured by evaluate.py: $METRICS_NOTE"
    echo "train:    $(quoted "${TRAIN_CMD[@]}")"
    echo "evaluate: $(quoted "${EVAL_CMD[@]}")"
}

recipe_main() {
    local config='' action=train print_only=0
    local extra=()
    EVAL_EXTRA=()
    while (( $# )); do
        case "$1" in
            -h|--help) recipe_usage; exit 0 ;;
            --print|--dry-run|--dry_run) print_only=1 ;;
            --evaluate) action=evaluate ;;
            --) shift; extra=("$@"); break ;;
            -*) die "unknown option '$1' (train.py options go after --; see --help)" ;;
            *)
                [[ -z "$config" ]] || die "one CONFIG only (got '$config' and '$1')"
                config="$1" ;;
        esac
        shift
    done
    [[ "${DRY_RUN:-0}" != 0 ]] && print_only=1
    if [[ -z "$config" ]]; then
        recipe_usage >&2
        exit 2
    fi
    if [[ "$config" == all ]]; then
        (( print_only )) || die "CONFIG all is for --print only: train one configuration at a time"
        local c first=1
        for c in "${CONFIGS[@]}"; do
            (( first )) || echo
            first=0
            build_commands "$c" ${extra[@]+"${extra[@]}"}
            print_plan "$c"
        done
        return 0
    fi
    local known=0 c
    for c in "${CONFIGS[@]}"; do [[ "$c" == "$config" ]] && known=1; done
    (( known )) || die "unknown CONFIG '$config': choose ${CONFIGS[*]}"

    if [[ "$action" == evaluate ]]; then  # with --evaluate, the options after -- are evaluate.py's
        EVAL_EXTRA=(${extra[@]+"${extra[@]}"})
        extra=()
    fi
    build_commands "$config" ${extra[@]+"${extra[@]}"}
    print_plan "$config"
    (( print_only )) && return 0
    cd "$REPO_DIR"
    case "$action" in
        evaluate)
            echo
            echo "running: $(quoted "${EVAL_CMD[@]}")"
            exec "${EVAL_CMD[@]}" ;;
        train)
            [[ -e "$DATAROOT_USED" ]] || die "dataset not found at '$DATAROOT_USED': set DATAROOT=/path/to/it \
(relative paths are taken from the repository root, $REPO_DIR)"
            echo
            echo "running: $(quoted "${TRAIN_CMD[@]}")"
            "${TRAIN_CMD[@]}"
            echo
            echo "training finished. Measure it with:"
            echo "  $(quoted "${EVAL_CMD[@]}")"
            echo "  (or: recipes/${DATASET}.sh $config --evaluate, with the same environment)"
            echo "and compare with the paper:"
            expected_numbers "$config" | sed 's/^/  /' ;;
    esac
}
