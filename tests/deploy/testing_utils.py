"""Helpers shared by the tests of `keras_nachos.deploy`."""

import json
import os
import shutil

import numpy as np

from keras_nachos import rules
from keras_nachos.calibration import exit_scores


def midpoints(scores, quantile):
    """A threshold halfway between two neighbouring scores (no sample sits on
    it, so float rounding cannot flip a decision)."""
    s = np.sort(np.unique(scores))
    i = int(quantile * (len(s) - 1))
    return float((s[i] + s[min(i + 1, len(s) - 1)]) / 2)


def thresholds_between_samples(model, outputs, rule):
    """Thresholds that send some samples out at each early exit, each halfway
    between two samples' exit scores."""
    rule = rules.get(rule)
    S = exit_scores(outputs, rule, model.num_classes)
    u = [midpoints(S[:, i], q) for i, q in enumerate((0.6, 0.4))]
    return rule.rule_threshold(u).tolist()


def copy_export(directory, target):
    """A copy of the export folder `directory` at `target` (a path);
    returns `target`."""
    shutil.copytree(directory, target)
    return target


def folder_state(directory):
    """`{file name: bytes}` of a folder's files (to assert an export left it
    as it was)."""
    state = {}
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as f:
            state[name] = f.read()
    return state


def edit_manifest(directory, edit):
    """Rewrites `directory/manifest.json` with `edit(config)` applied (a
    function that changes the dict in place)."""
    path = os.path.join(directory, "manifest.json")
    with open(path) as f:
        config = json.load(f)
    edit(config)
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
