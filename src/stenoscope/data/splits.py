"""Stratified, grouped splits: a group (patient, clip, near-duplicate set) never straddles two folds."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from stenoscope.errors import StenoscopeError

Fold = tuple[np.ndarray, np.ndarray]


def grouped_folds(
    labels: Sequence[int], groups: Sequence[str], n_folds: int = 5, seed: int = 0
) -> list[Fold]:
    """``n_folds`` (train indices, validation indices) pairs from ``StratifiedGroupKFold`` (seeded).

    Stratification balances the label ratio across folds as far as whole groups allow; with a single class
    present it falls back to plain group k-fold.

    Raises:
        StenoscopeError: fewer groups than folds.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    labels_array = np.asarray(labels)
    group_ids = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)[1]
    n_groups = int(group_ids.max()) + 1 if group_ids.size else 0
    if n_folds < 2:
        raise StenoscopeError(f"cross-validation needs at least 2 folds, got {n_folds}")
    if n_groups < n_folds:
        raise StenoscopeError(f"{n_groups} group(s) cannot be split into {n_folds} folds")
    placeholder = np.zeros((labels_array.size, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "least populated class" notes on tiny datasets
        if np.unique(labels_array).size < 2:
            splitter = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            splits = splitter.split(placeholder, labels_array, group_ids)
        else:
            splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
            splits = splitter.split(placeholder, labels_array, group_ids)
        return [(np.sort(train), np.sort(val)) for train, val in splits]


def grouped_split(
    labels: Sequence[int], groups: Sequence[str], val_fraction: float = 0.2, seed: int = 0
) -> Fold:
    """One stratified grouped train/validation split holding out about ``val_fraction`` of the groups."""
    if not 0 < val_fraction < 1:
        raise StenoscopeError(f"val_fraction must be in (0, 1), got {val_fraction}")
    return grouped_folds(labels, groups, max(2, round(1 / val_fraction)), seed)[0]
