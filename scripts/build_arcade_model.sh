#!/usr/bin/env bash
# Rebuild the shipped ARCADE model, its evaluations and MODEL_CARD.md from ../shared/data (read-only).
# About 5 h on 2 CPU cores: the two training stages in grouped 5-fold CV over train + val (runs/, git-ignored),
# publishing their ensemble into the package's weights folder with its sha256 manifest, the external test on
# the Danilov frames, the speed benchmark, the same two stages on the held-out split (train only, val held
# out: the reference numbers' protocol), the ablation runs (a single-stage reference, without attention,
# the paper recipe) and the card.
set -euo pipefail
cd "$(dirname "$0")/.."
DANILOV=../shared/data/cine-danilov
WEIGHTS=src/stenoscope/models/weights/stenonet-arcade.safetensors
mkdir -p runs results/arcade
# the shell's `time` lines (real/user/sys) end each stage's part of the log; publish sums them
{ time stenoscope train configs/arcade-heatmap.yaml --json; } > runs/arcade.log 2>&1
{ time stenoscope train configs/arcade.yaml --json; } >> runs/arcade.log 2>&1
stenoscope publish runs/arcade --card configs/arcade-card.yaml --results results/arcade --time-log runs/arcade.log \
    --external "$DANILOV"
cp runs/arcade-heatmap/results.json results/arcade/training_stage1.json
python benchmarks/shipped_model.py --threads 2
stenoscope evaluate "$WEIGHTS" "$DANILOV" --format voc --out results/arcade/danilov-frames --json > /dev/null
stenoscope evaluate "$WEIGHTS" "$DANILOV" --format voc --samples regions --out results/arcade/danilov-regions \
    --json > /dev/null
# the same procedure on the held-out split (train only; val held out)
stenoscope train configs/arcade-holdout-heatmap.yaml --json > runs/arcade-holdout.log 2>&1
stenoscope train configs/arcade-holdout.yaml --json >> runs/arcade-holdout.log 2>&1
cp runs/arcade-holdout-heatmap/results.json results/arcade/holdout_stage1.json
cp runs/arcade-holdout/results.json results/arcade/holdout.json
# the ablations the card shows, same held-out split: the shipped procedure without attention, and the paper
# recipe against release 1's single-stage run
stenoscope train configs/arcade-holdout-no-attention-heatmap.yaml --json > runs/arcade-holdout-no-attention.log 2>&1
stenoscope train configs/arcade-holdout-no-attention.yaml --json >> runs/arcade-holdout-no-attention.log 2>&1
cp runs/arcade-holdout-no-attention/results.json results/arcade/ablation_attention.json
stenoscope train configs/arcade-joint.yaml --epochs 5 --json > runs/arcade-joint.log 2>&1
stenoscope train configs/arcade-joint.yaml --resume --json >> runs/arcade-joint.log 2>&1
cp runs/arcade-joint/results.json results/arcade/ablation_reference.json
stenoscope train configs/arcade-paper-recipe.yaml --json > runs/arcade-paper-recipe.log 2>&1
cp runs/arcade-paper-recipe/results.json results/arcade/ablation_recipe.json
stenoscope model-card results/arcade --out MODEL_CARD.md
