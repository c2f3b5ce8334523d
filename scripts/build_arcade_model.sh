#!/usr/bin/env bash
# Rebuild the shipped ARCADE model, its evaluations and MODEL_CARD.md from ../shared/data (read-only).
# Hours on 2 CPU cores (results/arcade/training_time.json has the shipped stages' measured time): the three
# training stages in grouped 5-fold CV over train + val (runs/, git-ignored), publishing their ensemble into
# the package's weights folder with its sha256 manifest, the external test on the Danilov frames, the speed
# benchmark, the earlier releases' procedures (cross-validated and held out), the same two stages on the
# held-out split (train only, val held out: the reference numbers' protocol), the other comparison runs, and
# the card.
set -euo pipefail
cd "$(dirname "$0")/.."
DANILOV=../shared/data/cine-danilov
WEIGHTS=src/stenoscope/models/weights/stenonet-arcade.safetensors
mkdir -p runs results/arcade

# An earlier release, cross-validated (release number, stage-1 and stage-2 config names, which are also their
# run folders): its results as the card's comparison rows, and its shipped weights (published into runs/, not
# the package) on the external frames.
earlier_release() {
    local release=$1 stage1=$2 stage2=$3
    local weights="runs/stenonet-arcade-release$release.safetensors"
    stenoscope train "configs/$stage1.yaml" --json > "runs/$stage2.log" 2>&1
    stenoscope train "configs/$stage2.yaml" --json >> "runs/$stage2.log" 2>&1
    cp "runs/$stage1/results.json" "results/arcade/release${release}_training_stage1.json"
    cp "runs/$stage2/results.json" "results/arcade/release${release}_training.json"
    stenoscope publish "runs/$stage2" --card configs/arcade-card.yaml --results "runs/release$release-results" \
        --weights-dir "runs/release$release-weights"
    cp "runs/release$release-weights/stenonet-arcade.safetensors" "$weights"
    for samples in frames regions; do
        stenoscope evaluate "$weights" "$DANILOV" --format voc --samples "$samples" \
            --out "results/arcade/danilov-$samples-release$release" --json > /dev/null
    done
}

# the shell's `time` lines (real/user/sys) end each stage's part of the log; publish sums them
{ time stenoscope train configs/arcade-heatmap-zoom.yaml --json; } > runs/arcade-zoom.log 2>&1
{ time stenoscope train configs/arcade-zoom.yaml --json; } >> runs/arcade-zoom.log 2>&1
# release 7 is these two stages alone (its results, and its weights published outside the package); the third
# stage trains the peak rankers and evaluates the run again
cp runs/arcade-zoom/results.json results/arcade/release7_training.json
stenoscope publish runs/arcade-zoom --card configs/arcade-card.yaml --results runs/release7-results \
    --weights-dir runs/release7-weights
cp runs/release7-weights/stenonet-arcade.safetensors runs/stenonet-arcade-release7.safetensors
{ time stenoscope train-ranker runs/arcade-zoom --json; } >> runs/arcade-zoom.log 2>&1
stenoscope publish runs/arcade-zoom --card configs/arcade-card.yaml --results results/arcade \
    --time-log runs/arcade-zoom.log --external "$DANILOV"
cp runs/arcade-heatmap-zoom/results.json results/arcade/training_stage1.json
python scripts/heatmap_fit.py configs/arcade-heatmap-zoom.yaml runs/arcade-heatmap-zoom results/arcade/fit.json
python scripts/rerank_peaks.py configs/arcade-heatmap-zoom.yaml runs/arcade-zoom results/arcade/rerank.json
python scripts/annotation_agreement.py ../shared/data/arcade-stenosis results/arcade/annotation_agreement.json
python benchmarks/shipped_model.py --threads 2
# every frame, region crops, and the 5 key frames of each run (the frames `stenoscope analyze` reports on)
for samples in frames regions keyframes; do
    stenoscope evaluate "$WEIGHTS" "$DANILOV" --format voc --samples "$samples" \
        --out "results/arcade/danilov-$samples" --json > /dev/null
done
# release 7 (without the peak ranker) on every frame and on the 5 key frames of each run
for samples in frames keyframes; do
    stenoscope evaluate runs/stenonet-arcade-release7.safetensors "$DANILOV" --format voc --samples "$samples" \
        --out "results/arcade/danilov-$samples-release7" --json > /dev/null
done
# the third stage again on a copy of the run, its rankers on the frame at twice the model's input size (96 px
# windows of the 512 px frame itself; not shipped): the card's CV comparison row and the external test
rm -rf runs/arcade-zoom-ranker-scale2 && cp -r runs/arcade-zoom runs/arcade-zoom-ranker-scale2
stenoscope train-ranker runs/arcade-zoom-ranker-scale2 --window 96 --scale 2 --json \
    > runs/arcade-zoom-ranker-scale2.log 2>&1
cp runs/arcade-zoom-ranker-scale2/results.json results/arcade/ranker_scale2_training.json
stenoscope publish runs/arcade-zoom-ranker-scale2 --card configs/arcade-card.yaml \
    --results runs/ranker-scale2-results --weights-dir runs/ranker-scale2-weights
cp runs/ranker-scale2-weights/stenonet-arcade.safetensors runs/stenonet-arcade-ranker-scale2.safetensors
for samples in frames keyframes; do
    stenoscope evaluate runs/stenonet-arcade-ranker-scale2.safetensors "$DANILOV" --format voc \
        --samples "$samples" --out "results/arcade/danilov-$samples-ranker-scale2" --json > /dev/null
done
# issue 5's reference, rebuilt from its description: on its own protocol (train only, val held out), then on the
# shipped run's folds, where the card pairs it with the shipped model fold by fold
{ time stenoscope train configs/arcade-holdout-reference.yaml --json; } > runs/arcade-holdout-reference.log 2>&1
cp runs/arcade-holdout-reference/results.json results/arcade/reference_holdout.json
{ time stenoscope train configs/arcade-reference.yaml --json; } > runs/arcade-reference.log 2>&1
cp runs/arcade-reference/results.json results/arcade/reference_training.json
# release 6 (stage 1 half as long), and its 5 key frames of each external run too
earlier_release 6 arcade-heatmap-zoom-release6 arcade-zoom-release6
stenoscope evaluate runs/stenonet-arcade-release6.safetensors "$DANILOV" --format voc --samples keyframes \
    --out results/arcade/danilov-keyframes-release6 --json > /dev/null
python scripts/heatmap_fit.py configs/arcade-heatmap-zoom-release6.yaml runs/arcade-heatmap-zoom-release6 \
    results/arcade/release6_fit.json
# release 5 (heat-map targets half as broad)
earlier_release 5 arcade-heatmap-zoom-release5 arcade-zoom-release5
# release 5's stage 1 fold models with the lesion map averaged over several views (not shipped)
rm -rf runs/arcade-heatmap-zoom-views && cp -r runs/arcade-heatmap-zoom-release5 runs/arcade-heatmap-zoom-views
stenoscope train configs/arcade-heatmap-zoom-views.yaml --reevaluate --json > runs/arcade-zoom-views.log 2>&1
cp runs/arcade-heatmap-zoom-views/results.json results/arcade/training_stage1_views.json
# release 5's stage 1 ending with the moving average of its weights, and with frames also processed as other
# systems process them (cross-validated; the latter's fold ensemble also on the external frames)
stenoscope train configs/arcade-heatmap-zoom-ema.yaml --json > runs/arcade-heatmap-zoom-ema.log 2>&1
cp runs/arcade-heatmap-zoom-ema/results.json results/arcade/training_stage1_ema.json
stenoscope train configs/arcade-heatmap-zoom-domain.yaml --json > runs/arcade-heatmap-zoom-domain.log 2>&1
cp runs/arcade-heatmap-zoom-domain/results.json results/arcade/training_stage1_domain.json
stenoscope evaluate runs/arcade-heatmap-zoom-domain/ensemble.safetensors "$DANILOV" --format voc \
    --out results/arcade/danilov-frames-stage1-domain --json > /dev/null
# release 5's stage 1 with its heat-map decoder twice as wide and with the spatial-softmax ranking loss
# (cross-validated)
stenoscope train configs/arcade-heatmap-zoom-wide.yaml --json > runs/arcade-heatmap-zoom-wide.log 2>&1
cp runs/arcade-heatmap-zoom-wide/results.json results/arcade/training_stage1_wide.json
stenoscope train configs/arcade-heatmap-zoom-ranked.yaml --json > runs/arcade-heatmap-zoom-ranked.log 2>&1
cp runs/arcade-heatmap-zoom-ranked/results.json results/arcade/training_stage1_ranked.json
# release 5's stage 1 with two other seeds on the same folds, and release 6's stage 1 with the same two seeds:
# release 6's change across three seeds, and release 6's stage 1's training noise (cross-validated)
for seed in 1 2; do
    stenoscope train "configs/arcade-heatmap-zoom-seed$seed.yaml" --json > "runs/arcade-heatmap-zoom-seed$seed.log" 2>&1
    cp "runs/arcade-heatmap-zoom-seed$seed/results.json" "results/arcade/release5_training_stage1_seed$seed.json"
done
for seed in 1 2; do
    stenoscope train "configs/arcade-heatmap-zoom-broad-seed$seed.yaml" --json \
        > "runs/arcade-heatmap-zoom-broad-seed$seed.log" 2>&1
    cp "runs/arcade-heatmap-zoom-broad-seed$seed/results.json" "results/arcade/training_stage1_broad_seed$seed.json"
done
# the shipped stage 1 with seed 1 on the same folds: its training noise, and release 7's change (twice as long)
# against release 6's seed-1 run above (cross-validated)
stenoscope train configs/arcade-heatmap-zoom-56-seed1.yaml --json > runs/arcade-heatmap-zoom-56-seed1.log 2>&1
cp runs/arcade-heatmap-zoom-56-seed1/results.json results/arcade/training_stage1_56_seed1.json
# release 6's stage 1 with heat-map targets broader still (cross-validated)
stenoscope train configs/arcade-heatmap-zoom-sigma05.yaml --json > runs/arcade-heatmap-zoom-sigma05.log 2>&1
cp runs/arcade-heatmap-zoom-sigma05/results.json results/arcade/training_stage1_sigma05.json
# the shipped procedure on the held-out split (train only; val held out)
stenoscope train configs/arcade-holdout-broad-heatmap-56.yaml --json > runs/arcade-holdout-broad-heatmap-56.log 2>&1
stenoscope train configs/arcade-holdout-broad-56.yaml --json >> runs/arcade-holdout-broad-heatmap-56.log 2>&1
cp runs/arcade-holdout-broad-heatmap-56/results.json results/arcade/holdout_stage1.json
cp runs/arcade-holdout-broad-56/results.json results/arcade/holdout.json
# release 6's procedure on the held-out split (its stage 1 half as long), and both stage 1s scored on their own
# training frames beside the held-out ones
stenoscope train configs/arcade-holdout-broad-heatmap.yaml --json > runs/arcade-holdout-broad.log 2>&1
stenoscope train configs/arcade-holdout-broad.yaml --json >> runs/arcade-holdout-broad.log 2>&1
cp runs/arcade-holdout-broad-heatmap/results.json results/arcade/release6_holdout_stage1.json
cp runs/arcade-holdout-broad/results.json results/arcade/release6_holdout.json
for run in arcade-holdout-broad-heatmap:fit_holdout arcade-holdout-broad-heatmap-56:fit_holdout_56; do
    python scripts/heatmap_fit.py "configs/${run%%:*}.yaml" "runs/${run%%:*}" "results/arcade/${run#*:}.json"
done
# release 4 (stage 1 without zoom)
earlier_release 4 arcade-heatmap-long arcade-long
# release 5's and release 4's procedures on the held-out split
stenoscope train configs/arcade-holdout-release5-heatmap.yaml --json > runs/arcade-holdout-release5.log 2>&1
stenoscope train configs/arcade-holdout-release5.yaml --json >> runs/arcade-holdout-release5.log 2>&1
cp runs/arcade-holdout-release5-heatmap/results.json results/arcade/release5_holdout_stage1.json
cp runs/arcade-holdout-release5/results.json results/arcade/release5_holdout.json
stenoscope train configs/arcade-holdout-heatmap-long-bf16.yaml --json > runs/arcade-holdout-long-bf16.log 2>&1
stenoscope train configs/arcade-holdout-long-bf16-neck.yaml --json >> runs/arcade-holdout-long-bf16.log 2>&1
cp runs/arcade-holdout-heatmap-long-bf16/results.json results/arcade/release4_holdout_stage1.json
cp runs/arcade-holdout-long-bf16-neck/results.json results/arcade/release4_holdout.json
# what averaging adds: the held-out stage 1 of releases 7, 6 and 5 with two more seeds each, each alone and a
# release's three as one ensemble, on ARCADE val (release:held-out stage 1 config, also its run folder)
for release in release7:broad-heatmap-56 release6:broad-heatmap release5:release5-heatmap; do
    run="runs/arcade-holdout-${release#*:}"
    for seed in 1 2; do
        stenoscope train "configs/arcade-holdout-${release#*:}.yaml" --seed "$seed" --out "$run-seed$seed" \
            --json >> runs/arcade-holdout-seeds.log 2>&1
    done
    case "${release%%:*}" in
        release7) ensemble="runs/arcade-holdout-broad-56-seed-ensemble.safetensors" ;;
        release6) ensemble="runs/arcade-holdout-broad-seed-ensemble.safetensors" ;;
        *) ensemble="runs/arcade-holdout-seed-ensemble.safetensors" ;;
    esac
    python - "$run" "$ensemble" <<'PY'
import sys
from stenoscope.models import Ensemble, load_model, save_model
run, out = sys.argv[1:]
members = [load_model(f"{folder}/fold_1/model.safetensors") for folder in (run, f"{run}-seed1", f"{run}-seed2")]
save_model(Ensemble(members), out, **members[0].checkpoint_metadata)
PY
    for model in "seed-0:$run" "seed-1:$run-seed1" "seed-2:$run-seed2" "ensemble-of-3:$ensemble"; do
        path="${model#*:}"
        [ -d "$path" ] && path="$path/fold_1/model.safetensors"
        stenoscope evaluate "$path" ../shared/data/arcade-stenosis/val --format coco \
            --out "results/arcade/ensemble-gain/${release%%:*}-${model%%:*}" --json > /dev/null
    done
done
stenoscope evaluate runs/arcade-holdout-seed-ensemble.safetensors "$DANILOV" --format voc \
    --out results/arcade/danilov-frames-holdout-seed-ensemble --json > /dev/null
# the procedures of releases 7 and 6 as their grouped 5-fold CV on ARCADE train alone: each fold model and
# their ensemble (the release's shipped file's counterpart that never saw val) on ARCADE val
# (each fold model and the ensemble of a train-CV run on ARCADE val, named after the release)
on_val() {
    local run=$1 release=$2 model path
    for model in fold-1 fold-2 fold-3 fold-4 fold-5 ensemble-of-5; do
        path="$run/ensemble.safetensors"
        [ "$model" != ensemble-of-5 ] && path="$run/fold_${model#fold-}/model.safetensors"
        stenoscope evaluate "$path" ../shared/data/arcade-stenosis/val --format coco \
            --out "results/arcade/ensemble-gain/$release-cv-$model" --json > /dev/null
    done
}
for release in release7:arcade-train-cv release6:arcade-train-cv-release6; do
    run="runs/${release#*:}"
    suffix="${run#runs/arcade-train-cv}"
    stenoscope train "configs/arcade-train-cv-heatmap$suffix.yaml" --json > "$run.log" 2>&1
    stenoscope train "configs/arcade-train-cv$suffix.yaml" --json >> "$run.log" 2>&1
    on_val "$run" "${release%%:*}"
done
# release 8's procedure on train alone: release 7's run above with its third stage, the peak rankers
stenoscope train-ranker runs/arcade-train-cv --json > runs/arcade-train-cv-ranker.log 2>&1
on_val runs/arcade-train-cv release8
# the peak ranker measured with three ranker seeds under the CV and on the held-out frames, with the stage 1
# fold models and the train-CV ensemble above (release 8's third stage is its seed 0)
python scripts/peak_ranker.py results/arcade/peak_ranker.json
# release 3's procedure, cross-validated and held out: the card's comparison rows
stenoscope train configs/arcade-heatmap.yaml --json > runs/arcade.log 2>&1
stenoscope train configs/arcade.yaml --json >> runs/arcade.log 2>&1
cp runs/arcade-heatmap/results.json results/arcade/release3_training_stage1.json
cp runs/arcade/results.json results/arcade/release3_training.json
stenoscope train configs/arcade-holdout-heatmap.yaml --json > runs/arcade-holdout.log 2>&1
stenoscope train configs/arcade-holdout.yaml --json >> runs/arcade-holdout.log 2>&1
cp runs/arcade-holdout-heatmap/results.json results/arcade/release3_holdout_stage1.json
cp runs/arcade-holdout/results.json results/arcade/release3_holdout.json
# the held-out comparisons the card shows (same split): release 3 without attention, with the paper recipe,
# in one stage (release 1), with synthetic frames added, with a heavier heat-map loss or a lower learning
# rate in stage 2; stage 1 for longer in float32; three other stage 2s after the shipped stage 1; release 3's
# stage 1 with flipped and zoomed frames and at 512 px (--reevaluate measures a run trained elsewhere)
stenoscope train configs/arcade-holdout-no-attention-heatmap.yaml --json > runs/arcade-holdout-no-attention.log 2>&1
stenoscope train configs/arcade-holdout-no-attention.yaml --json >> runs/arcade-holdout-no-attention.log 2>&1
cp runs/arcade-holdout-no-attention/results.json results/arcade/ablation_attention.json
stenoscope train configs/arcade-holdout-paper-recipe-heatmap.yaml --json > runs/arcade-holdout-paper-recipe.log 2>&1
stenoscope train configs/arcade-holdout-paper-recipe.yaml --json >> runs/arcade-holdout-paper-recipe.log 2>&1
cp runs/arcade-holdout-paper-recipe/results.json results/arcade/ablation_recipe.json
stenoscope train configs/arcade-joint.yaml --epochs 5 --json > runs/arcade-joint.log 2>&1
stenoscope train configs/arcade-joint.yaml --resume --json >> runs/arcade-joint.log 2>&1
cp runs/arcade-joint/results.json results/arcade/ablation_one_stage.json
stenoscope train configs/arcade-holdout-synthetic-heatmap.yaml --json > runs/arcade-holdout-synthetic.log 2>&1
stenoscope train configs/arcade-holdout-synthetic.yaml --json >> runs/arcade-holdout-synthetic.log 2>&1
cp runs/arcade-holdout-synthetic/results.json results/arcade/synthetic.json
stenoscope train configs/arcade-holdout-heat-weight-3.yaml --json > runs/arcade-holdout-heat-weight-3.log 2>&1
cp runs/arcade-holdout-heat-weight-3/results.json results/arcade/heat_weight_3.json
stenoscope train configs/arcade-holdout-low-lr.yaml --json > runs/arcade-holdout-low-lr.log 2>&1
cp runs/arcade-holdout-low-lr/results.json results/arcade/low_lr.json
stenoscope train configs/arcade-holdout-heatmap-long.yaml --json > runs/arcade-holdout-heatmap-long.log 2>&1
cp runs/arcade-holdout-heatmap-long/results.json results/arcade/stage1_long.json
stenoscope train configs/arcade-holdout-heatmap-56-bf16.yaml --json > runs/arcade-holdout-heatmap-56.log 2>&1
cp runs/arcade-holdout-heatmap-56-bf16/results.json results/arcade/stage1_56_bf16.json
# release 4's stage 1 trained again (in a later session it came out different), then that run and the
# 56-epoch one measured with the lesion map averaged over several views (heatmap.test_scales/test_flip)
stenoscope train configs/arcade-holdout-heatmap-long-bf16.yaml --out runs/arcade-holdout-heatmap-long-bf16-again \
    --json > runs/arcade-holdout-heatmap-again.log 2>&1
cp runs/arcade-holdout-heatmap-long-bf16-again/results.json results/arcade/holdout_stage1_again.json
for run in long-bf16 56-bf16; do
    source=runs/arcade-holdout-heatmap-$run
    [ "$run" = long-bf16 ] && source=$source-again
    rm -rf "runs/arcade-holdout-heatmap-$run-views" && cp -r "$source" "runs/arcade-holdout-heatmap-$run-views"
    stenoscope train "configs/arcade-holdout-heatmap-$run-views.yaml" --reevaluate --json \
        >> runs/arcade-holdout-views.log 2>&1
done
cp runs/arcade-holdout-heatmap-long-bf16-views/results.json results/arcade/holdout_stage1_views.json
cp runs/arcade-holdout-heatmap-56-bf16-views/results.json results/arcade/stage1_56_bf16_views.json
# release 4's shipped weights with those views (not shipped: see MODEL_CARD.md) on the external frames
python - <<'PY'
import torch
from stenoscope.models import HeatmapViews, load_model, save_model
model = load_model("runs/stenonet-arcade-release4.safetensors")
model.heatmap_views = HeatmapViews((0.875, 1.0, 1.25), flip=True)
save_model(model, "runs/stenonet-arcade-views.safetensors", weights_dtype=torch.float16, **model.checkpoint_metadata)
PY
stenoscope evaluate runs/stenonet-arcade-views.safetensors "$DANILOV" --format voc \
    --out results/arcade/danilov-frames-views --json > /dev/null
stenoscope train configs/arcade-holdout-long-bf16.yaml --json >> runs/arcade-holdout-long-bf16.log 2>&1
cp runs/arcade-holdout-long-bf16/results.json results/arcade/long_bf16.json
stenoscope train configs/arcade-holdout-long-bf16-head.yaml --json >> runs/arcade-holdout-long-bf16.log 2>&1
cp runs/arcade-holdout-long-bf16-head/results.json results/arcade/long_bf16_head.json
stenoscope train configs/arcade-holdout-long-bf16-deep.yaml --json >> runs/arcade-holdout-long-bf16.log 2>&1
cp runs/arcade-holdout-long-bf16-deep/results.json results/arcade/long_bf16_deep.json
stenoscope train configs/arcade-holdout-heatmap-augment.yaml --json > runs/arcade-holdout-heatmap-augment.log 2>&1
cp runs/arcade-holdout-heatmap-augment/results.json results/arcade/stage1_augment.json
stenoscope train configs/arcade-holdout-512-heatmap.yaml --json > runs/arcade-holdout-512.log 2>&1
cp runs/arcade-holdout-512-heatmap/results.json results/arcade/probe_512_stage1.json
# the shipped stage 1 with whole frames zoomed (held out), then the held-out stage 1 models on the external frames
stenoscope train configs/arcade-holdout-heatmap-zoom-bf16.yaml --json > runs/arcade-holdout-heatmap-zoom.log 2>&1
cp runs/arcade-holdout-heatmap-zoom-bf16/results.json results/arcade/holdout_stage1_zoom.json
stenoscope train configs/arcade-holdout-heatmap-zoom45-bf16.yaml --json >> runs/arcade-holdout-heatmap-zoom.log 2>&1
cp runs/arcade-holdout-heatmap-zoom45-bf16/results.json results/arcade/holdout_stage1_zoom45.json
stenoscope train configs/arcade-holdout-heatmap-zoom60-bf16.yaml --json >> runs/arcade-holdout-heatmap-zoom.log 2>&1
cp runs/arcade-holdout-heatmap-zoom60-bf16/results.json results/arcade/holdout_stage1_zoom60.json
for run in long-bf16-again:stage1 zoom-bf16:stage1-zoom zoom45-bf16:stage1-zoom45 zoom60-bf16:stage1-zoom60; do
    stenoscope evaluate "runs/arcade-holdout-heatmap-${run%%:*}/ensemble.safetensors" "$DANILOV" --format voc \
        --out "results/arcade/danilov-frames-holdout-${run#*:}" --json > /dev/null
done
stenoscope evaluate runs/arcade-holdout-release5-heatmap/ensemble.safetensors "$DANILOV" --format voc \
    --out results/arcade/danilov-frames-holdout-stage1-release5 --json > /dev/null
stenoscope model-card results/arcade --out MODEL_CARD.md
