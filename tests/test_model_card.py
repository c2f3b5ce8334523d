"""MODEL_CARD.md from result files: a cross-validated shipped run gets its CV table (fold means with the
fold-spread interval, per-fold rows) beside the held-out run of the same procedure; a held-out run alone
says that cross-validation was not run."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from stenoscope.evaluate.model_card import (
    CV_STUDIES,
    RELEASE_6_STAGE1,
    STAGE1_RESULTS,
    STUDIES,
    render_model_card,
)
from stenoscope.train.cv import _summary

RESULTS = Path(__file__).resolve().parents[1] / "results" / "arcade"
CV_NOT_RUN = "grouped 5-fold cross-validation over train + val: not run"


def _cv_run(held_out: dict, pointing: list[float]) -> dict:
    """A cross-validated run whose folds copy the held-out fold with their own heat-map pointing game."""
    folds = []
    for number, rate in enumerate(pointing, start=1):
        fold = copy.deepcopy(held_out["folds"][0])
        fold["fold"] = number
        fold["localisation"]["heatmap"]["pointing_game"] = rate
        folds.append(fold)
    config = held_out["config"] | {"holdout": None, "folds": len(folds)}
    return held_out | {"config": config, "folds": folds, "summary": _summary(folds)}


def _without_cv_studies(results: Path) -> None:
    """Remove every cross-validated comparison run but the shipped stage 1's, which tests write themselves
    (so a study added to the card later cannot add a row these tests do not expect)."""
    for study in CV_STUDIES:
        if study.file != STAGE1_RESULTS:
            (results / study.file).unlink(missing_ok=True)


def _section(card: str, title: str) -> str:
    start = card.index(f"\n## {title}\n")
    return card[start : card.index("\n## ", start + 1)]


@pytest.fixture
def results(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    shutil.copytree(RESULTS, folder)
    return folder


def test_a_cross_validated_run_gets_fold_means_intervals_and_per_fold_rows(results: Path) -> None:
    held_out = json.loads((results / "holdout.json").read_text())
    (results / "training.json").write_text(json.dumps(_cv_run(held_out, [0.6, 0.7, 0.8])))
    card = render_model_card(results)
    cv = card[card.index("## Grouped 3-fold cross-validation") : card.index("## Held-out evaluation")]
    # mean 0.7, SD 0.1, t(0.975, 2) = 4.303: 0.7 +- 0.248
    assert "| lesion heat-map head | 582 | 1179 | 0.700 (0.452-0.948) |" in cv
    assert cv.count("\n| 1 | 194 | 0.600") == 1 and "\n| 3 | 194 | 0.800" in cv
    stage1_epochs = len(json.loads((results / "holdout_stage1.json").read_text())["folds"][0]["history"])
    assert f"stage 1 for {stage1_epochs} epochs" in card[card.index("## Held-out evaluation") :]
    assert CV_NOT_RUN not in card
    # the comparison table: the shipped procedure first, then one row per study whose results exist
    table = card[card.index("## Comparisons") :]
    table = table[: table.index("\n## ")]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    assert rows[0].startswith("| shipped procedure (two stages")
    present = [study for study in STUDIES if (results / study.file).is_file()]
    labels = [study.label(json.loads((results / study.file).read_text())) for study in present]
    assert [row.split(" | ")[0][2:] for row in rows[1:]] == labels


def test_cross_validated_comparisons_show_fold_means_of_each_run_after_the_shipped_model(
    results: Path,
) -> None:
    held_out = json.loads((results / "holdout.json").read_text())
    held_out_stage1 = json.loads((results / "holdout_stage1.json").read_text())
    (results / "training.json").write_text(json.dumps(_cv_run(held_out, [0.5, 0.6, 0.7])))
    (results / "training_stage1.json").write_text(json.dumps(_cv_run(held_out_stage1, [0.6, 0.7, 0.8])))
    _without_cv_studies(results)
    (results / "release3_training_stage1.json").write_text(
        json.dumps(_cv_run(held_out_stage1, [0.7, 0.8, 0.9]))
    )
    card = render_model_card(results)
    table = card[card.index("## Comparisons (grouped cross-validation)") :]
    table = table[: table.index("Paired by fold")]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ") and "|---" not in line]
    epochs = len(held_out_stage1["folds"][0]["history"])
    assert [row[0] for row in rows[1:3]] == [
        "| shipped model (both stages)",
        f"| release 3's stage 1 alone ({epochs} epochs)",
    ]
    assert rows[3][0].startswith(f"| the shipped stage 1 alone ({epochs} epochs")
    assert [row[2] for row in rows[1:]] == [
        "0.600 (0.352-0.848)",
        "0.800 (0.552-1.000)",
        "0.700 (0.452-0.948)",
    ]
    # stage 1 trains on whole frames: no region AUC
    assert rows[1][1] != "n/a" and rows[2][1] == rows[3][1] == "n/a"
    # without a cross-validated study there is nothing to compare with
    (results / "training_stage1.json").unlink()
    (results / "release3_training_stage1.json").unlink()
    assert "## Comparisons (grouped cross-validation)" not in render_model_card(results)


def test_only_runs_on_the_shipped_models_folds_are_compared_with_it(results: Path) -> None:
    held_out = json.loads((results / "holdout.json").read_text())
    held_out_stage1 = json.loads((results / "holdout_stage1.json").read_text())
    (results / "training.json").write_text(json.dumps(_cv_run(held_out, [0.5, 0.6, 0.7])))
    _without_cv_studies(results)
    stage1 = _cv_run(held_out_stage1, [0.6, 0.7, 0.8])
    (results / "training_stage1.json").write_text(json.dumps(stage1))
    # the seed run is release 6's stage 1 trained again: it pairs with that run, here equal to the shipped one
    (results / RELEASE_6_STAGE1).write_text(json.dumps(_cv_run(held_out_stage1, [0.5, 0.6, 0.7])))
    seed1 = "release 6's stage 1 alone, trained again with another seed"

    def compared(run: dict) -> bool:
        (results / "training_stage1_broad_seed1.json").write_text(json.dumps(run))
        section = _section(render_model_card(results), "Comparisons (grouped cross-validation)")
        rows = [line for line in section.splitlines() if line.startswith(f"| {seed1}")]
        assert len(rows) in (0, 2)  # the table and the paired table, or neither
        return bool(rows)

    same_folds = stage1 | {"config": stage1["config"] | {"seed": 1, "split_seed": stage1["config"]["seed"]}}
    assert compared(same_folds)
    # the seed run measures training noise: release 6's run (0.5/0.6/0.7) minus it (0.6/0.7/0.8) is -0.1
    # in every fold, an interval excluding 0; the sensitivities are the same copies in both (0, holding 0)
    section = _section(render_model_card(results), "Comparisons (grouped cross-validation)")
    noise = "(the run of release 6's stage 1 trained again on the same folds) moves these paired differences"
    assert f"{noise} by up to 0.100, with 1 of 4 intervals excluding 0" in section
    assert "favourable draw" not in section  # it is worse on the pointing game, level on the rest
    worse = copy.deepcopy(same_folds)
    for fold in worse["folds"]:
        heat = fold["localisation"]["heatmap"]
        heat |= {key: heat[key] - 0.7 for key in heat if key.endswith("_fp") or key == "pointing_game"}
    assert compared(worse)
    section = _section(render_model_card(results), "Comparisons (grouped cross-validation)")
    assert "The first run of release 6's stage 1 localises better than the runs trained again on every " in (
        section
    )
    assert not compared(stage1 | {"config": stage1["config"] | {"seed": 1}})
    assert not compared(_cv_run(held_out_stage1, [0.6, 0.7, 0.8, 0.9]))


def test_a_missing_study_is_listed_as_not_run_and_gets_no_row(results: Path) -> None:
    study = next(study for study in STUDIES if (results / study.file).is_file())
    (results / study.file).unlink()
    card = render_model_card(results)
    assert f"- {study.change}: not run; no numbers exist." in card
    assert f"| {study.change} |" not in card


def test_a_held_out_run_alone_says_cross_validation_was_not_run(results: Path) -> None:
    shutil.move(results / "holdout.json", results / "training.json")
    card = render_model_card(results)
    assert CV_NOT_RUN in card and "## Held-out evaluation: ARCADE `val`" in card
    assert "## Grouped" not in card


def test_the_training_section_says_whether_synthetic_runs_were_measured(results: Path) -> None:
    assert "- Synthetic runs: not used; their effect is measured in the comparison table" in (
        render_model_card(results)
    )
    (results / "synthetic.json").unlink()
    assert "- Synthetic runs: not used; whether they would help was not measured." in render_model_card(
        results
    )


def test_the_training_section_names_frozen_modules_and_bfloat16(results: Path) -> None:
    training = json.loads((results / "training.json").read_text())
    training["config"] |= {"freeze": [], "precision": "float32"}
    (results / "training.json").write_text(json.dumps(training))
    card = render_model_card(results)
    assert "- Frozen:" not in card and "- This stage's forward passes ran" not in card
    training["config"] |= {"freeze": ["stem", "stages"], "precision": "bfloat16"}
    (results / "training.json").write_text(json.dumps(training))
    card = render_model_card(results)
    assert "- Frozen: `stem`, `stages` keep the weights" in card
    assert "- This stage's forward passes ran in bfloat16 autocast" in card


def test_the_stage_1_line_says_when_it_ended_with_a_moving_average_of_its_weights(results: Path) -> None:
    stage1 = json.loads((results / "training_stage1.json").read_text())
    stage1["config"].pop("ema_decay", None)
    (results / "training_stage1.json").write_text(json.dumps(stage1))
    assert "moving average of its weights (decay" not in _section(render_model_card(results), "Training")
    stage1["config"]["ema_decay"] = 0.998
    (results / "training_stage1.json").write_text(json.dumps(stage1))
    training = _section(render_model_card(results), "Training")
    assert "- Stage 1:" in training
    assert "ending with the moving average of its weights (decay 0.998 per step)" in training


def test_the_stage_1_line_says_when_its_heat_map_learned_with_the_ranking_loss(results: Path) -> None:
    stage1 = json.loads((results / "training_stage1.json").read_text())
    stage1["config"]["heatmap"].pop("softmax_weight", None)
    (results / "training_stage1.json").write_text(json.dumps(stage1))
    assert "spatial-softmax" not in _section(render_model_card(results), "Training")
    stage1["config"]["heatmap"]["softmax_weight"] = 0.5
    (results / "training_stage1.json").write_text(json.dumps(stage1))
    training = _section(render_model_card(results), "Training")
    assert "with the spatial-softmax ranking loss (weight 0.5) beside the focal loss;" in training
    # a one-stage model (or a stage 2 that trained the heat map with it) says so on the heat-map line
    final = json.loads((results / "training.json").read_text())
    final["config"]["heatmap"]["softmax_weight"] = 2.0
    (results / "training.json").write_text(json.dumps(final))
    heat_line = next(
        line
        for line in _section(render_model_card(results), "Training").splitlines()
        if "Heat-map head" in line
    )
    assert heat_line.endswith(
        "CenterNet focal loss (weight 1), with the spatial-softmax ranking loss (weight 2) beside the "
        "focal loss."
    )


def test_region_tables_name_the_thresholds_the_crops_were_called_at(results: Path) -> None:
    held_out = json.loads((results / "holdout.json").read_text())
    held_out["folds"][0]["metrics"]["threshold"] = 0.25
    (results / "holdout.json").write_text(json.dumps(held_out))
    run = _cv_run(held_out, [0.6, 0.7, 0.8])
    for fold, threshold in zip(run["folds"], (0.3, 0.2, 0.25), strict=True):
        fold["metrics"]["threshold"] = threshold
    (results / "training.json").write_text(json.dumps(run))
    card = render_model_card(results)
    held_out_section = card[card.index("## Held-out evaluation") :]
    assert "most sensitivity + specificity on each fold's own training crops: 0.200-0.300" in card
    assert "most sensitivity + specificity on its training crops: 0.250" in held_out_section
    # files from before the rule called crops at 0.5, and the card says so
    held_out["folds"][0]["metrics"]["threshold"] = 0.5
    (results / "holdout.json").write_text(json.dumps(held_out))
    assert "held-out crops cut as in training; threshold 0.5)" in render_model_card(results)


def test_views_phrase_names_one_view_or_the_averaged_ones():
    from stenoscope.evaluate.model_card import views_phrase

    assert views_phrase({}) == views_phrase({"test_scales": [1.0], "test_flip": False})
    assert views_phrase({}).startswith("one view")
    assert views_phrase({"test_scales": [0.875, 1.0, 1.25], "test_flip": True}) == (
        "mean of 6 views: scales 0.875, 1, 1.25, each also mirrored"
    )
    assert views_phrase({"scales": [1.0, 1.5], "flip": False}) == "mean of 2 views: scales 1, 1.5"


def test_study_details_name_the_decoder_width_ranking_loss_weight_and_target_width(results: Path) -> None:
    from stenoscope.evaluate.model_card import _decoder_width, _ranked, _target_width

    stage1 = json.loads((results / "training_stage1.json").read_text())
    assert _decoder_width(stage1).endswith(", decoder width 48 instead of 48")
    assert _ranked(stage1).endswith(", ranking loss weight 0")
    stage1["config"]["model"]["kwargs"]["heatmap_chans"] = 96
    stage1["config"]["heatmap"]["softmax_weight"] = 1.0
    epochs = len(stage1["folds"][0]["history"])
    assert (
        _decoder_width(stage1)
        == f"{epochs} epochs, frames zoomed by up to 45% either way, decoder width 96 instead of 48"
    )
    assert _ranked(stage1).endswith(", ranking loss weight 1")
    assert _target_width(stage1).endswith(", sigma 0.3 x box size")
    stage1["config"]["heatmap"]["sigma_scale"] = 0.5
    assert _target_width(stage1).endswith(", sigma 0.5 x box size")


def test_an_external_test_names_its_model_and_what_trained_it(results: Path) -> None:
    from stenoscope.evaluate.model_card import EXTERNAL_MODELS

    card = render_model_card(results)
    section = card[card.index("### `danilov-frames`") :]
    assert section.startswith("### `danilov-frames`\n\n127 frame samples")
    assert "Model: `src/stenoscope/models/weights/stenonet-arcade.safetensors`. Heat maps" in section
    evaluation = json.loads((results / "danilov-frames" / "evaluation.json").read_text())
    model, origin = next(iter(EXTERNAL_MODELS.items()))
    (results / "danilov-frames" / "evaluation.json").write_text(json.dumps(evaluation | {"model": model}))
    assert f"Model: `{model}`: {origin}. Heat maps" in render_model_card(results)


def test_every_named_external_model_has_a_committed_external_test() -> None:
    from stenoscope.evaluate.model_card import EXTERNAL_MODELS

    measured = {json.loads(path.read_text())["model"] for path in RESULTS.glob("*/evaluation.json")}
    assert set(EXTERNAL_MODELS) <= measured  # an entry no evaluation names is never printed


def test_the_stage_1_line_names_a_zoom_of_its_own(results: Path) -> None:
    stage = json.loads((results / "training_stage1.json").read_text())
    stage["config"]["augment"] = {}
    (results / "training_stage1.json").write_text(json.dumps(stage))
    assert "epochs in bfloat16 autocast (weights, optimiser and losses in float32); alone" in (
        render_model_card(results)
    )
    stage["config"]["augment"] = {"frame_flip": False, "zoom": 0.45}
    (results / "training_stage1.json").write_text(json.dumps(stage))
    assert "losses in float32), frames zoomed by up to 45% either way; alone it reached" in (
        render_model_card(results)
    )


def test_procedure_differences_name_training_settings_only():
    from stenoscope.evaluate.model_card import procedure_differences

    stage = json.loads((RESULTS / "holdout_stage1.json").read_text())
    stage["config"]["augment"] = {}
    moved = copy.deepcopy(stage)
    moved["config"] |= {"out": "elsewhere", "threads": 1, "holdout": None, "augment": {"frame_flip": False}}
    moved["config"]["heatmap"]["test_scales"] = [1.0]
    assert procedure_differences([stage], [moved]) == []
    moved["config"]["augment"]["zoom"] = 0.45
    moved["config"]["lr"] = 0.001
    assert procedure_differences([moved], [stage]) == [
        "stage 1 `augment.zoom`: 0 here, 0.45 shipped",
        "stage 1 `lr`: 0.002 here, 0.001 shipped",
    ]
    assert procedure_differences([stage, stage], [stage]) == ["1 training stage(s) here, 2 shipped"]


def test_a_held_out_split_of_an_earlier_procedure_is_named_as_such(results: Path) -> None:
    from stenoscope.evaluate.model_card import HELD_OUT_RELEASE

    training = json.loads((results / "training.json").read_text())
    training.pop("peak_ranker", None)  # the shipped run without its third stage: the held-out procedure's
    (results / "training.json").write_text(json.dumps(training))
    assert "Protocol: the shipped procedure in two stages" in render_model_card(results)
    here = json.loads((results / "holdout_stage1.json").read_text())["config"]["augment"].get("zoom", 0)
    stage = json.loads((results / "training_stage1.json").read_text())
    stage["config"]["augment"] = {"frame_flip": False, "zoom": 0.25}  # no held-out run used it
    (results / "training_stage1.json").write_text(json.dumps(stage))
    card = render_model_card(results)
    held_out = card[card.index("## Held-out evaluation") :]
    assert held_out.startswith(
        f"## Held-out evaluation: ARCADE `val`\n\nProtocol: {HELD_OUT_RELEASE}'s procedure in two stages"
    )
    assert (
        f"differs from the shipped model's procedure in stage 1 `augment.zoom`: {here} here, 0.25 shipped"
        in held_out
    )
    table = card[card.index("## Comparisons (one held-out split)") :]
    assert f"\n| {HELD_OUT_RELEASE}'s procedure (two stages" in table
    assert "| shipped procedure" not in card


def test_cross_validated_comparisons_pair_the_heat_map_fold_by_fold(results: Path) -> None:
    held_out = json.loads((results / "holdout.json").read_text())
    (results / "training.json").write_text(json.dumps(_cv_run(held_out, [0.6, 0.7, 0.8])))
    _without_cv_studies(results)
    (results / "training_stage1.json").write_text(json.dumps(_cv_run(held_out, [0.6, 0.7, 0.8, 0.9])))
    (results / "release3_training.json").write_text(json.dumps(_cv_run(held_out, [0.5, 0.6, 0.8])))
    card = render_model_card(results)
    paired = card[card.index("Paired by fold") :]
    paired = paired[: paired.index("\n## ")]
    rows = [line.split(" | ") for line in paired.splitlines() if line.startswith("| release")]
    # differences 0.1, 0.1, 0.0: mean 0.067, SD 0.058, t(0.975, 2) = 4.303: +- 0.143
    assert [row[1] for row in rows] == ["+0.067 (-0.077 to +0.210)"]
    assert rows[0][2] == "+0.000 (+0.000 to +0.000)"  # the same sensitivities in every fold
    # a run with other folds cannot be paired and gets no row
    assert "| the shipped stage 1 alone" not in paired
    # the shipped stage 1 on the same folds is the shipped model's own heat map: listed, not self-paired
    (results / "training_stage1.json").write_text(json.dumps(_cv_run(held_out, [0.6, 0.7, 0.8])))
    section = _section(render_model_card(results), "Comparisons (grouped cross-validation)")
    listed, paired = section.split("Paired by fold")
    assert "\n| the shipped stage 1 alone (" in listed
    assert "| the shipped stage 1 alone" not in paired

    # since release 8 the shipped model re-ranks its peaks: the shipped stage 1 pairs with it (the ranker's
    # gain), and a stage 1 run pairs with the shipped stage 1, not with the re-ranked model
    (results / "training.json").write_text(json.dumps(_cv_run(held_out, [0.7, 0.8, 0.9])))
    (results / "release3_training_stage1.json").write_text(json.dumps(_cv_run(held_out, [0.5, 0.6, 0.8])))
    paired = _section(render_model_card(results), "Comparisons (grouped cross-validation)").split("Paired")[1]
    cells = [line.split(" | ") for line in paired.splitlines() if line.startswith("| ")]
    rows = {row[0]: row[1] for row in cells}
    [stage1] = [cells for label, cells in rows.items() if label.startswith("| the shipped stage 1 alone")]
    assert stage1 == "+0.100 (+0.100 to +0.100)"
    [release3] = [label for label in rows if label.startswith("| release 3's stage 1 alone")]
    assert ", against the shipped stage 1 alone" in release3
    assert rows[release3] == "+0.067 (-0.077 to +0.210)"


def test_a_study_with_a_reference_pairs_with_that_run_not_the_shipped_one(results: Path) -> None:
    held_out = json.loads((results / "holdout.json").read_text())
    (results / "training.json").write_text(json.dumps(_cv_run(held_out, [0.6, 0.7, 0.8])))
    _without_cv_studies(results)
    stage1 = _cv_run(held_out, [0.6, 0.7, 0.8])
    (results / "training_stage1.json").write_text(json.dumps(stage1))
    shipped_seed1 = _cv_run(held_out, [0.5, 0.5, 0.5])
    shipped_seed1["config"] |= {"seed": 1, "split_seed": stage1["config"]["seed"]}
    earlier = _cv_run(held_out, [0.7, 0.7, 0.7])
    earlier["config"] |= {"seed": 1, "split_seed": stage1["config"]["seed"]}
    earlier["config"]["heatmap"] = {"enabled": True, "sigma_scale": 0.15}
    (results / "release5_training_stage1_seed1.json").write_text(json.dumps(earlier))

    def paired_rows() -> list[list[str]]:
        section = _section(render_model_card(results), "Comparisons (grouped cross-validation)")
        paired = section.partition("Paired by fold")[2]
        earlier_row = "| release 5's stage 1 alone, trained with another seed"
        return [line.split(" | ") for line in paired.splitlines() if line.startswith(earlier_row)]

    # without its reference run in the results folder the study cannot be paired
    assert paired_rows() == []
    (results / "training_stage1_broad_seed1.json").write_text(json.dumps(shipped_seed1))
    [row] = paired_rows()
    # the shipped procedure's seed-1 run (0.5 in every fold) minus release 5's (0.7): -0.2 in every fold;
    # against the shipped run (0.6/0.7/0.8) it would be -0.1 with a wide interval
    assert ", against release 6's stage 1 alone, trained again with another seed (training noise" in row[0]
    assert row[1] == "-0.200 (-0.200 to -0.200)"


def _seed_runs(results: Path, **config: object) -> tuple[int, Callable[..., None]]:
    """Leaves only the shipped run and its stage 1 (pointing games 0.6/0.7/0.8) in the results folder; returns
    their seed and a writer of cross-validated runs on their folds with the given pointing games, seed and
    ``config`` entries (a call's own entries replace them)."""
    held_out = json.loads((results / "holdout.json").read_text())
    _without_cv_studies(results)
    (results / "training.json").write_text(json.dumps(_cv_run(held_out, [0.6, 0.7, 0.8])))
    (results / "training_stage1.json").write_text(json.dumps(_cv_run(held_out, [0.6, 0.7, 0.8])))
    seed = json.loads((results / "training.json").read_text())["config"]["seed"]

    def write(name: str, pointing: list[float], run_seed: int, **own: object) -> None:
        run = _cv_run(held_out, pointing)
        run["config"] |= {"seed": run_seed, "split_seed": seed, **config, **own}
        (results / name).write_text(json.dumps(run))

    return seed, write


def test_each_procedures_reruns_give_their_own_noise_and_a_shared_run_is_listed_once(results: Path) -> None:
    from stenoscope.evaluate.model_card import SHIPPED_STAGE1_SEED1

    seed, write = _seed_runs(results)
    write(RELEASE_6_STAGE1, [0.5, 0.6, 0.7], seed)
    write(SHIPPED_STAGE1_SEED1, [0.6, 0.6, 0.6], seed + 1)  # the shipped run minus it: 0, +0.1, +0.2
    write("training_stage1_broad_seed1.json", [0.4, 0.5, 0.6], seed + 1)  # release 6's run minus it: +0.1
    section = _section(render_model_card(results), "Comparisons (grouped cross-validation)")
    noise = "trained again on the same folds) moves these paired differences by up to"
    assert f"(the run of the shipped stage 1 {noise} 0.100" in section
    assert f"(the run of release 6's stage 1 {noise} 0.100, with 1 of 4" in section
    table = section[: section.index("Paired by fold")]
    assert table.count(f"seed {seed + 1} on the same folds") == 2  # release 6's seed-1 run once, not twice
    paired = section[section.index("Paired by fold") :]
    # release 6's seed-1 run against the shipped stage 1's: 0.6 minus 0.4/0.5/0.6 in the three folds
    [row] = [
        line.split(" | ")
        for line in paired.splitlines()
        if line.startswith("| release 6's stage 1 alone, trained again with another seed (")
        and ", against the shipped stage 1 alone, trained again" in line
    ]
    assert row[1] == "+0.100 (-0.148 to +0.348)"


def test_a_change_run_with_three_seeds_gets_an_interval_across_the_seeds(results: Path) -> None:
    seed, write = _seed_runs(results, heatmap={"sigma_scale": 0.15})
    # each seed of release 6's procedure minus release 5's run of that seed: -0.1, -0.2 and 0.0 in every fold
    write(RELEASE_6_STAGE1, [0.6, 0.7, 0.8], seed, heatmap={"sigma_scale": 0.3})
    write("release5_training_stage1.json", [0.7, 0.8, 0.9], seed)
    write("training_stage1_broad_seed1.json", [0.5, 0.5, 0.5], 1)
    write("release5_training_stage1_seed1.json", [0.7, 0.7, 0.7], 1)
    write("training_stage1_broad_seed2.json", [0.6, 0.6, 0.6], 2)

    def across() -> list[list[str]]:
        section = _section(render_model_card(results), "Comparisons (grouped cross-validation)")
        earlier = "| release 5's heat-map"
        return [line.split(" | ") for line in section.splitlines() if line.startswith(earlier)]

    assert across() == []  # two seeds: no interval across them
    write("release5_training_stage1_seed2.json", [0.6, 0.6, 0.6], 2)
    [row] = across()
    # mean -0.1, SD 0.1 over the three seeds, t(0.975, 2) = 4.303: +- 0.248; the sensitivities are copies
    assert row[0] == "| release 5's heat-map targets, half as broad, 3 seeds"
    assert row[1] == "-0.100 (-0.348 to +0.148)"
    assert row[2] == "+0.000 (+0.000 to +0.000)"


def test_the_ensemble_section_lists_each_member_and_the_ensemble_when_measured(results: Path) -> None:
    from stenoscope.evaluate.model_card import ENSEMBLE_GAIN

    shutil.rmtree(results / ENSEMBLE_GAIN, ignore_errors=True)
    assert "## Ensemble against its members" not in render_model_card(results)
    evaluation = json.loads((results / "danilov-frames" / "evaluation.json").read_text())
    for name, rate in (("seed-0", 0.5), ("seed-1", 0.6), ("ensemble-of-2", 0.7)):
        folder = results / ENSEMBLE_GAIN / name
        folder.mkdir(parents=True)
        measured = copy.deepcopy(evaluation)
        measured["localisation"]["heatmap"]["pointing_game"] = rate
        (folder / "evaluation.json").write_text(json.dumps(measured))
    card = render_model_card(results)
    section = card[card.index("## Ensemble against its members") :]
    rows = [line.split(" | ")[:3] for line in section.splitlines() if line.startswith("| `")]
    assert [(row[0], row[2][:5]) for row in rows] == [
        ("| `ensemble-of-2`", "0.700"),
        ("| `seed-0`", "0.500"),
        ("| `seed-1`", "0.600"),
    ]
    # measured on ARCADE, not another centre: not listed as an external test
    assert "### `seed-0`" not in card


def test_a_stage_s_frame_augmentation_is_named_in_full() -> None:
    from stenoscope.evaluate.model_card import _augmentation_phrase, _frame_augment_phrase

    assert _frame_augment_phrase({}) == ""
    assert _frame_augment_phrase({"zoom": 0.45, "sharpen": 1.5, "shutters": 0.12}) == (
        ", frames zoomed by up to 45% either way and edge-enhanced (unsharp masking up to 1.5) and given "
        "collimator bands up to 12% deep"
    )
    recipe = {"zoom": 0.45, "sharpen": 1.5, "shutters": 0.12, "frame_flip": False}
    assert _augmentation_phrase(recipe).startswith(
        "zoom up to 45%, collimator bands up to 12% deep on whole frames, unsharp masking up to 1.5, rotation"
    )
    assert _augmentation_phrase({}).startswith("rotation, gamma")


def test_an_external_evaluation_of_a_few_runs_lists_each_run(results: Path) -> None:
    path = results / "danilov-frames" / "evaluation.json"
    evaluation = json.loads(path.read_text())

    def danilov_section() -> str:
        section = _section(render_model_card(results), "External test (another centre)")
        danilov = section[section.index("### `danilov-frames`") :]
        return danilov[: danilov.index("\n### ")]

    for source in evaluation["localisation"].values():
        source.pop("by_group", None)  # as files written before runs were listed
    path.write_text(json.dumps(evaluation))
    assert "Each run alone" not in danilov_section()
    rates = {"pointing_game": 0.25, "sensitivity_at_0.5_fp": 0.5, "sensitivity_at_1_fp": 0.75}
    evaluation["localisation"]["heatmap"]["by_group"] = {
        "14_021_1": {"n_images": 75, "n_lesions": 75, **rates, "sensitivity_at_2_fp": None}
    }
    path.write_text(json.dumps(evaluation))
    assert "| `14_021_1` | lesion heat-map head | 75 | 0.250 | 0.500 | 0.750 | n/a |" in danilov_section()


def test_the_top_peaks_column_appears_where_an_evaluation_measured_it(results: Path) -> None:
    from stenoscope.evaluate.model_card import ENSEMBLE_GAIN

    shutil.rmtree(results / ENSEMBLE_GAIN, ignore_errors=True)
    evaluation = json.loads((results / "danilov-frames" / "evaluation.json").read_text())
    heat = evaluation["localisation"]["heatmap"]
    heat.pop("pointing_game_top3", None)  # as evaluations written before the rate existed
    heat.pop("pointing_game_top3_ci95", None)
    for name in ("seed-0", "seed-1"):
        (results / ENSEMBLE_GAIN / name).mkdir(parents=True)
        (results / ENSEMBLE_GAIN / name / "evaluation.json").write_text(json.dumps(evaluation))

    def table() -> list[str]:
        section = _section(render_model_card(results), "Ensemble against its members (held-out split)")
        return [line for line in section.splitlines() if line.startswith("|")]

    assert "strongest peaks" not in table()[0]
    heat |= {"pointing_game_top3": 0.875, "pointing_game_top3_ci95": [0.8, 0.95]}
    (results / ENSEMBLE_GAIN / "seed-1" / "evaluation.json").write_text(json.dumps(evaluation))
    header, rule, old, new = table()
    assert header.split(" | ")[2:4] == ["pointing game", "lesion among the 3 strongest peaks"]
    assert rule == "|---|" + "---:|" * header.count(" | ")  # every column but the model's right-aligned
    assert old.split(" | ")[3] == "n/a" and new.split(" | ")[3] == "0.875 (0.800-0.950)"


def test_each_releases_cross_validated_ensemble_is_judged_against_reference_and_goal(results: Path) -> None:
    from stenoscope.evaluate.model_card import ENSEMBLE_GAIN

    shutil.rmtree(results / ENSEMBLE_GAIN, ignore_errors=True)
    evaluation = json.loads((results / "danilov-frames" / "evaluation.json").read_text())
    (results / ENSEMBLE_GAIN / "seed-0").mkdir(parents=True)
    (results / ENSEMBLE_GAIN / "seed-0" / "evaluation.json").write_text(json.dumps(evaluation))

    def section() -> str:
        return _section(render_model_card(results), "Ensemble against its members (held-out split)")

    def add(name: str) -> None:
        (results / ENSEMBLE_GAIN / name).mkdir()
        (results / ENSEMBLE_GAIN / name / "evaluation.json").write_text(json.dumps(evaluation))

    assert "-cv-" not in section() and "trained without" not in section()
    heat = evaluation["localisation"]["heatmap"]
    heat |= {"pointing_game": 0.86, "pointing_game_ci95": [0.81, 0.905]}
    heat |= {"sensitivity_at_1_fp": 0.7, "sensitivity_at_1_fp_ci95": [0.64, 0.76]}
    add("release7-cv-ensemble-of-5")
    text = section()
    assert "`release7-cv-*`, release 7's procedure (`configs/arcade-train-cv-heatmap.yaml`, then " in text
    assert "release6-cv" not in text
    assert (
        "`release7-cv-ensemble-of-5`, release 7's procedure's ensemble trained without `cine-danilov`: "
        "Heat-map pointing game 0.860 (95% CI 0.810-0.905) is above the reference's 0.795 and does not meet "
        "the goal of 0.9. Heat-map sensitivity at 1 FP/frame 0.700 (95% CI 0.640-0.760) is not "
        "distinguishable from the reference's 0.720"
    ) in text
    heat |= {"pointing_game": 0.7, "pointing_game_ci95": [0.65, 0.75]}
    add("release6-cv-ensemble-of-5")
    text = section()
    assert (
        "and `release6-cv-*`, release 6's procedure (`configs/arcade-train-cv-heatmap-release6.yaml`" in text
    )
    assert (
        "release 7's procedure's ensemble trained without `cine-danilov`: Heat-map pointing game 0.860"
        in text
    )
    assert (
        "`release6-cv-ensemble-of-5`, release 6's procedure's ensemble trained without `cine-danilov`: "
        "Heat-map pointing game 0.700 (95% CI 0.650-0.750) is below the reference's 0.795"
    ) in text


def test_the_fit_rows_set_each_folds_training_frames_beside_its_validation_frames(results: Path) -> None:
    from stenoscope.evaluate.model_card import FIT_RESULTS

    (results / FIT_RESULTS).unlink(missing_ok=True)
    assert "Fit: each fold model" not in render_model_card(results)

    def side(n: int, pointing: float, sensitivity: float) -> dict:
        return {"n_images": n, "pointing_game": pointing, "sensitivity_at_1_fp": sensitivity}

    fit = {
        "run": "runs/x",
        "folds": [
            {"fold": 1, "training_frames": side(960, 0.8, 0.75), "validation_frames": side(240, 0.7, 0.65)},
            {"fold": 2, "training_frames": side(961, 0.82, 0.77), "validation_frames": side(239, 0.74, 0.69)},
        ],
    }
    (results / FIT_RESULTS).write_text(json.dumps(fit))
    card = render_model_card(results)
    assert "| 2 | 961 | 0.820 | 0.770 | 239 | 0.740 | 0.690 |" in card
    assert (
        "pointing game 0.810 on the training frames against 0.720 on the validation frames, sensitivity at 1 "
        "FP/frame 0.760 against 0.670: short of the goal (0.9 / 0.85)"
    ) in card
    for fold in fit["folds"]:
        fold["training_frames"] |= {"pointing_game": 0.95, "sensitivity_at_1_fp": 0.9}
    (results / FIT_RESULTS).write_text(json.dumps(fit))
    card = render_model_card(results)
    assert "short of the goal" not in card
    # fitted past the goal, validation frames short of it: the gap is in carrying the fit over
    past = "FP/frame 0.900 against 0.670: past the goal (0.9 / 0.85) on the frames the heat map learned"
    assert past in card
    for fold in fit["folds"]:
        fold["validation_frames"] |= {"pointing_game": 0.92, "sensitivity_at_1_fp": 0.88}
    (results / FIT_RESULTS).write_text(json.dumps(fit))
    assert "past the goal" not in render_model_card(results)


def test_held_out_fits_are_listed_by_epochs(results: Path) -> None:
    fits = sorted(results.glob("fit_holdout*.json"))
    committed = [json.loads(path.read_text()) for path in fits]
    card = render_model_card(results)
    rows = [line for line in card.splitlines() if line.startswith("| `configs/arcade-holdout-broad-heatmap")]
    assert [row.split(" | ")[1] for row in rows] == sorted(str(fit["epochs"]) for fit in committed)
    fold = committed[0]["folds"][0]["training_frames"]
    assert f"| {fold['n_images']} | {fold['pointing_game']:.3f} (" in card
    for path in fits:
        path.unlink()
    assert "trained for different numbers of epochs" not in render_model_card(results)


def test_a_key_frame_test_says_how_its_frames_were_chosen_and_sits_beside_every_frame(results: Path) -> None:
    def section() -> str:
        card = render_model_card(results)
        found = card[card.index("### `danilov-keyframes`") :]
        return found[: found.index("\n### ")]

    keyframes = json.loads((results / "danilov-keyframes" / "evaluation.json").read_text())
    every = json.loads((results / "danilov-frames" / "evaluation.json").read_text())
    assert section().startswith(
        "### `danilov-keyframes`\n\n15 key frames (15 positive, 0 negative) in 3 groups from `cine-danilov`, "
        "each group a cine run cut to its 5 key frames as `stenoscope analyze` cuts it (key-frame method "
        "`default`)."
    )
    key, all_frames = keyframes["localisation"]["heatmap"], every["localisation"]["heatmap"]
    assert (
        f"(`danilov-frames`, 127 frames): heat-map pointing game {all_frames['pointing_game']:.3f}, "
        f"sensitivity at 1 FP/frame {all_frames['sensitivity_at_1_fp']:.3f}; here, on the key frames alone: "
        f"{key['pointing_game']:.3f} and {key['sensitivity_at_1_fp']:.3f}."
    ) in section()
    # another model's every-frame test is not this model's
    (results / "danilov-frames" / "evaluation.json").write_text(json.dumps(every | {"model": "other"}))
    assert "The same model on every frame" not in section()


def test_the_labels_agreement_with_themselves_is_read_against_the_goal(results: Path) -> None:
    path = results / "annotation_agreement.json"
    found = json.loads(path.read_text())
    card = render_model_card(results)
    line = next(line for line in card.splitlines() if line.startswith("The labels against themselves"))
    low, high = found["ci95"]["pointing_game"]
    assert f"points at a lesion in {found['pointing_game']:.3f} ({low:.3f}-{high:.3f}) of frames" in line
    assert (
        f"{found['pairs']} near-duplicate frame pairs" in line and "2 of those carry different boxes" in line
    )
    assert ("need not reach the goal" in line) == (high < 0.9)
    found["ci95"]["pointing_game"] = [low, 0.95]
    path.write_text(json.dumps(found))
    assert "need not reach the goal" not in render_model_card(results)
    path.unlink()
    assert "The labels against themselves" not in render_model_card(results)


def test_the_published_card_facts_are_the_card_config() -> None:
    """Card prose is edited in configs/arcade-card.yaml and copied into model.json by publish (or by hand
    between releases): the two must not drift apart."""
    import yaml

    config = yaml.safe_load((RESULTS.parents[1] / "configs" / "arcade-card.yaml").read_text(encoding="utf-8"))
    assert json.loads((RESULTS / "model.json").read_text(encoding="utf-8"))["card"] == config


def test_a_peak_ranker_is_described_where_the_shipped_run_has_one(results: Path) -> None:
    record = {"window": 48, "epochs": 15, "seed": 0, "parameters": 210737, "peaks": 11709}
    record |= {"hit_share": 0.241, "wall_seconds": 1110.9, "cpu_seconds": 2049.3, "threads": 2}
    training = json.loads((results / "training.json").read_text())
    model = json.loads((results / "model.json").read_text())
    for ranker in (None, record):
        training["peak_ranker"], model["peak_ranker"] = ranker, ranker
        (results / "training.json").write_text(json.dumps(training))
        (results / "model.json").write_text(json.dumps(model))
        card = render_model_card(results)
        held_out = _section(card, "Held-out evaluation: ARCADE `val`")
        described = (
            "- Stage 3 (`stenoscope train-ranker`): a peak ranker, a small CNN (0.21 M weights) that sees a "
            "48 px window of the model's input around a heat-map peak, trained hit against miss (15 epochs, "
            "seed 0, one of the window's 8 rotations and mirrors per step) on the 11709 peaks the fold "
            "models found on their own validation frames (24% of them hits)"
        )
        assert (described in card) == (ranker is not None)
        assert ("It took 18.5 min wall, 34.2 min CPU" in card) == (ranker is not None)
        assert ("are re-scored by the peak ranker (Training, stage 3)" in card) == (ranker is not None)
        # a held-out single model has no out-of-fold peaks: its procedure is never the shipped one
        assert ("stage 3 (`stenoscope train-ranker`): none here" in held_out) == (ranker is not None)
    finer = record | {"window": 96, "scale": 2}
    training["peak_ranker"], model["peak_ranker"] = finer, finer
    (results / "training.json").write_text(json.dumps(training))
    (results / "model.json").write_text(json.dumps(model))
    assert (
        "sees a 96 px window of the frame resized to 2 times the model's input size around a heat-map peak"
        in (render_model_card(results))
    )


def test_the_rebuilt_reference_is_paired_fold_by_fold_and_judged_against_training_noise(
    results: Path,
) -> None:
    from stenoscope.evaluate.model_card import REFERENCE_CV, REFERENCE_HOLDOUT, SHIPPED_STAGE1_SEED1

    seed, write = _seed_runs(results)
    title = "### Against the reference, rebuilt and cross-validated"
    pointer = 'the comparison on the same folds is "Against the reference, rebuilt and cross-validated" below'
    assert title not in render_model_card(results)  # not run: no section
    assert pointer not in render_model_card(results)  # and the CV verdict points nowhere
    write(SHIPPED_STAGE1_SEED1, [0.6, 0.6, 0.6], seed + 1)  # noise: the shipped run minus it 0/+0.1/+0.2
    write(REFERENCE_CV, [0.4, 0.5, 0.6], seed)  # the shipped run minus it: +0.2 in every fold
    rebuilt = json.loads((results / REFERENCE_CV).read_text())
    for fold in rebuilt["folds"]:
        fold["localisation"]["heatmap"]["sensitivity_at_1_fp"] -= 0.15
    (results / REFERENCE_CV).write_text(json.dumps(rebuilt))
    held_out = json.loads((results / "holdout_stage1.json").read_text())
    held_out["folds"][0]["localisation"]["heatmap"] |= {
        "pointing_game": 0.8,
        "pointing_game_ci95": [0.75, 0.85],
    }
    held_out["folds"][0]["localisation"]["heatmap"]["sensitivity_at_1_fp_ci95"] = [0.6, 0.7]
    (results / REFERENCE_HOLDOUT).write_text(json.dumps(held_out))
    card = render_model_card(results)
    assert card.index(pointer) < card.index(title)  # the verdict against the stated numbers points to it
    section = card[card.index(title) : card.index("\n## ", card.index(title))]
    rows = {line.split(" | ")[0]: line.split(" | ") for line in section.splitlines() if line.startswith("| ")}
    assert rows["| pointing game"][3] == "+0.200 (+0.200 to +0.200) |"
    assert rows["| sensitivity at 1 FP/frame"][3] == "+0.150 (+0.150 to +0.150) |"
    assert "pointing game 0.800 (0.750-0.850), the stated 0.795 inside its interval" in section
    assert "the stated 0.720 outside its interval" in section
    assert "2.00 M weights" not in section and " M weights, the attention module" in section
    assert "by up to 0.100" in section
    assert "the shipped model is clearly better than the rebuilt reference" in section
    # the rebuild scored below the stated sensitivity (0.720 above its interval): that difference overstates
    assert "fell short of the stated sensitivity at 1 FP/frame on the reference's own protocol" in section
    assert "fell short of the stated pointing game" not in section

    # a difference no larger than training noise, or an interval holding 0, is not clearly better
    write(SHIPPED_STAGE1_SEED1, [0.3, 0.3, 0.3], seed + 1)  # noise now up to 0.4
    section = render_model_card(results).partition(title)[2]
    assert "the shipped model is not clearly better than the rebuilt reference" in section
    write(SHIPPED_STAGE1_SEED1, [0.6, 0.6, 0.6], seed + 1)
    write(REFERENCE_CV, [0.5, 0.7, 0.9], seed)  # +0.1, 0, -0.1
    section = render_model_card(results).partition(title)[2]
    assert "pointing game: not distinguishable;" in section
    assert "not clearly better" in section

    # a rebuilt reference on other folds cannot be paired: no section
    write(REFERENCE_CV, [0.4, 0.5, 0.6], seed + 1, split_seed=seed + 1)
    assert title not in render_model_card(results) and pointer not in render_model_card(results)
