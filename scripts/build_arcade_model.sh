#!/usr/bin/env bash
# Rebuild the shipped ARCADE model, its evaluations and MODEL_CARD.md from ../shared/data (read-only).
# About 2-3 h on 2 CPU cores: training (runs/, git-ignored), publishing into the package's weights folder
# with its sha256 manifest, the external test on the Danilov frames, the speed benchmark, the two
# comparison runs (no attention, paper recipe) and the card.
set -euo pipefail
cd "$(dirname "$0")/.."
DANILOV=../shared/data/cine-danilov
WEIGHTS=src/stenoscope/models/weights/stenonet-arcade.safetensors
mkdir -p runs results/arcade
# the shell's `time` lines (real/user/sys) end the log; publish reads the training time from them
{ time stenoscope train configs/arcade.yaml --epochs 5 --json; } > runs/arcade.log 2>&1
{ time stenoscope train configs/arcade.yaml --resume --json; } >> runs/arcade.log 2>&1
stenoscope publish runs/arcade --card configs/arcade-card.yaml --results results/arcade --time-log runs/arcade.log \
    --external "$DANILOV"
stenoscope evaluate "$WEIGHTS" "$DANILOV" --format voc --out results/arcade/danilov-frames --json > /dev/null
stenoscope evaluate "$WEIGHTS" "$DANILOV" --format voc --samples regions --out results/arcade/danilov-regions \
    --json > /dev/null
python benchmarks/shipped_model.py --threads 2
# the comparisons the card shows beside the shipped model (same held-out split)
stenoscope train configs/arcade-no-attention.yaml --epochs 5 --json > runs/arcade-no-attention.log 2>&1
stenoscope train configs/arcade-no-attention.yaml --resume --json >> runs/arcade-no-attention.log 2>&1
cp runs/arcade-no-attention/results.json results/arcade/ablation_attention.json
stenoscope train configs/arcade-paper-recipe.yaml --json > runs/arcade-paper-recipe.log 2>&1
cp runs/arcade-paper-recipe/results.json results/arcade/ablation_recipe.json
stenoscope model-card results/arcade --out MODEL_CARD.md
