"""The joint search space: backbone blocks, exit placement and head designs."""

import copy
import difflib
import math

import keras
import keras_tuner as kt
import numpy as np

from keras_nachos.checks import check_bool
from keras_nachos.checks import check_choice
from keras_nachos.checks import check_int
from keras_nachos.checks import check_ints
from keras_nachos.checks import is_integer
from keras_nachos.checks import is_real
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.models import EarlyExitModel
from keras_nachos.search.blocks import BN_MOMENTUM
from keras_nachos.search import blocks as block_registry
from keras_nachos.search.head_designs import head_designs
from keras_nachos.search.head_designs import make_head
from keras_nachos.search.records import candidate_key


class SearchSpace:
    """A serialisable NACHOS search space over early-exit networks.

    The backbone is a stem conv followed by `len(stage_widths)` stages of
    blocks; per stage the search picks the depth, the width, the kernel size
    and the expansion ratio (and the block type when several are given). The
    end of every stage but the last is a candidate exit position (a bit per
    position; at least one early exit is required) with its own head design
    (type and width). Optionally the input resolution and the stem width are
    searched, and, in `threshold_mode="genes"` (EDANAS), one threshold gene per
    exit position. The default `threshold_mode="calibrated"` (NACHOS) tunes
    thresholds after training under the constraints.

    Every decision is a Keras Tuner hyperparameter, so the space is
    `self.hyperparameters()` and a candidate is a dict of values; `build`
    decodes values deterministically to an `EarlyExitModel`.

    Args:
        input_shape: Tuple `(H, W, C)` of the data.
        num_classes: Integer.
        stage_widths: List, per stage, of the widths to choose from.
        depths: Depth choices per stage. Defaults to `(1, 2, 3)`.
        kernel_sizes: Defaults to `(3, 5, 7)`.
        expansion_ratios: Defaults to `(3, 4, 6)`.
        stage_strides: Stride of each stage's first block.
        stem_filters: Stem width choices. Defaults to `(16,)`.
        stem_stride: Defaults to `2`.
        resolutions: Optional input sizes to choose from (the input is
            resized); `None` keeps the data's size.
        block_types: Block type names (see `register_block`). Defaults to
            `("inverted_residual",)`.
        head_types: Head design names (see `register_head`). Defaults to
            `("global_pool", "sdn", "conv")`.
        head_widths: Head width choices. Defaults to `(0, 32)`.
        confidence: Boolean, confidence heads (for the cascade rule and the
            NACHOS loss). Defaults to `False`.
        threshold_mode: `"calibrated"` (default) or `"genes"`.
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        stage_widths=((16, 24), (24, 32, 40), (40, 48, 64)),
        depths=(1, 2, 3),
        kernel_sizes=(3, 5, 7),
        expansion_ratios=(3, 4, 6),
        stage_strides=None,
        stem_filters=(16,),
        stem_stride=2,
        resolutions=None,
        block_types=("inverted_residual",),
        head_types=("global_pool", "sdn", "conv"),
        head_widths=(0, 32),
        confidence=False,
        threshold_mode="calibrated",
    ):
        self.input_shape = check_ints("input_shape", input_shape)
        if len(self.input_shape) != 3:
            raise invalid_value(
                "input_shape", "a tuple (height, width, channels)", input_shape
            )
        self.num_classes = check_int("num_classes", num_classes, min_value=2)
        if not isinstance(stage_widths, (list, tuple)) or len(stage_widths) < 2:
            raise invalid_value(
                "stage_widths", "width choices for at least 2 stages",
                stage_widths,
            )
        self.stage_widths = [check_ints("stage_widths", ws) for ws in stage_widths]
        self.depths = check_ints("depths", depths)
        self.kernel_sizes = check_ints("kernel_sizes", kernel_sizes, odd=True)
        self.expansion_ratios = check_ints("expansion_ratios", expansion_ratios)
        num_stages = len(self.stage_widths)
        if stage_strides is None:
            stage_strides = [1] + [2] * (num_stages - 1)
        self.stage_strides = check_ints("stage_strides", stage_strides)
        if len(self.stage_strides) != num_stages:
            raise invalid_value(
                "stage_strides", f"{num_stages} strides, one per stage",
                stage_strides,
            )
        self.stem_filters = check_ints("stem_filters", stem_filters)
        self.stem_stride = check_int("stem_stride", stem_stride, min_value=1)
        self.resolutions = (
            None if resolutions is None
            else check_ints("resolutions", resolutions)
        )
        if not isinstance(block_types, (list, tuple)) or not block_types:
            raise invalid_value(
                "block_types", "a non-empty list of block names", block_types
            )
        self.block_types = tuple(block_types)
        for name in self.block_types:
            block_registry.get(name)
        if not isinstance(head_types, (list, tuple)) or not head_types or any(
            h not in head_designs() for h in head_types
        ):
            raise invalid_value(
                "head_types", f"names among {head_designs()}", head_types
            )
        self.head_types = tuple(head_types)
        self.head_widths = check_ints("head_widths", head_widths, min_value=0)
        self.confidence = check_bool("confidence", confidence)
        self.threshold_mode = check_choice(
            "threshold_mode", threshold_mode, ("calibrated", "genes")
        )

    @property
    def num_stages(self):
        return len(self.stage_widths)

    @property
    def exit_positions(self):
        """1-based stages after which an early exit may go."""
        return list(range(1, self.num_stages))

    # ------------------------------------------------------------------
    def hyperparameters(self):
        """Returns the space as `keras_tuner.HyperParameters`."""
        hp = kt.HyperParameters()
        if self.resolutions and len(self.resolutions) > 1:
            hp.Choice("resolution", list(self.resolutions))
        if len(self.stem_filters) > 1:
            hp.Choice("stem_filters", list(self.stem_filters))
        for s in range(1, self.num_stages + 1):
            hp.Choice(f"stage_{s}_depth", list(self.depths))
            widths = self.stage_widths[s - 1]
            if len(widths) > 1:
                hp.Choice(f"stage_{s}_width", list(widths))
            hp.Choice(f"stage_{s}_kernel", list(self.kernel_sizes))
            hp.Choice(f"stage_{s}_expansion", list(self.expansion_ratios))
            if len(self.block_types) > 1:
                hp.Choice(f"stage_{s}_block", list(self.block_types))
        for s in self.exit_positions:
            hp.Boolean(f"exit_{s}")
            if len(self.head_types) > 1:
                hp.Choice(f"exit_{s}_head", list(self.head_types))
            if len(self.head_widths) > 1:
                hp.Choice(f"exit_{s}_head_width", list(self.head_widths))
            if self.threshold_mode == "genes":
                hp.Float(f"exit_{s}_threshold", 0.0, 1.0)
        return hp

    def _value(self, values, name, default):
        return values.get(name, default)

    def decisions(self):
        """Every key a candidate's values may hold, and what it allows.

        The hyperparameters, and the decisions with a single choice (not
        hyperparameters, but a candidate may name them with that choice).

        Returns:
            Dict from key to a list of the values allowed (a choice),
            `bool` (an exit bit) or `float` (a threshold gene in [0, 1]).
        """
        out = {}
        if self.resolutions:
            out["resolution"] = list(self.resolutions)
        out["stem_filters"] = list(self.stem_filters)
        for s in range(1, self.num_stages + 1):
            out[f"stage_{s}_depth"] = list(self.depths)
            out[f"stage_{s}_width"] = list(self.stage_widths[s - 1])
            out[f"stage_{s}_kernel"] = list(self.kernel_sizes)
            out[f"stage_{s}_expansion"] = list(self.expansion_ratios)
            out[f"stage_{s}_block"] = list(self.block_types)
        for s in self.exit_positions:
            out[f"exit_{s}"] = bool
            out[f"exit_{s}_head"] = list(self.head_types)
            out[f"exit_{s}_head_width"] = list(self.head_widths)
            if self.threshold_mode == "genes":
                out[f"exit_{s}_threshold"] = float
        return out

    def required_keys(self, values):
        """The keys `build` cannot default: each stage's depth, kernel and
        expansion, and the threshold gene of each enabled exit."""
        keys = [
            f"stage_{s}_{d}" for s in range(1, self.num_stages + 1)
            for d in ("depth", "kernel", "expansion")
        ]
        if self.threshold_mode == "genes":
            keys += [
                f"exit_{s}_threshold" for s in self.exit_positions
                if values.get(f"exit_{s}")
            ]
        return keys

    def check_values(self, values, argument="values"):
        """Checks a candidate's values before anything is built.

        Every key must be one of the space's decisions (`decisions`; a
        misspelt key is refused, with the closest known key), every value
        one of its choices, of its type (integers, not floats or booleans;
        exit bits `True` or `False`; threshold genes floats in [0, 1]), and
        the keys `build` needs must be there (`required_keys`). Keras
        Tuner's own `tuner/...` entries are let through.

        Args:
            values: Dict of values, or `keras_tuner.HyperParameters`.
            argument: Name of the argument, for the error message.

        Returns:
            The values as a dict (a copy).

        Raises:
            TypeError: `values` is no dict.
            ValueError: naming `argument`, the key and the values allowed.
        """
        if isinstance(values, kt.HyperParameters):
            values = values.values
        if not isinstance(values, dict):
            raise invalid_type(
                argument, "a dict of the space's values (as "
                "`space.random_values()` gives)", values,
            )
        decisions = self.decisions()
        for key, value in values.items():
            if str(key).startswith("tuner/"):
                continue  # Keras Tuner's own bookkeeping (Hyperband's)
            allowed = decisions.get(key)
            if allowed is None:
                close = difflib.get_close_matches(str(key), list(decisions), 1)
                hint = f"; did you mean `{close[0]}`?" if close else ""
                raise invalid_value(
                    argument,
                    f"keys among the space's decisions {sorted(decisions)} "
                    f"(`{key}` is not one of them{hint})",
                    {key: value},
                )
            if not _allowed(value, allowed):
                raise invalid_value(
                    argument, f"`{key}` {_describe(allowed)}", {key: value}
                )
        missing = [k for k in self.required_keys(values) if k not in values]
        if missing:
            raise invalid_value(
                argument,
                "a value for every decision the candidate cannot default: "
                + ", ".join(
                    f"`{k}` {_describe(decisions[k])}" for k in missing
                ) + " missing",
                sorted(values),
            )
        return dict(values)

    def repair(self, values):
        """Makes a candidate valid and canonical.

        A candidate with every exit bit off gets the exit after the middle
        stage switched on (a deterministic, explicit repair); the head
        settings of disabled exits are reset to their first choice.
        """
        values = dict(values)
        if not any(values.get(f"exit_{s}", False) for s in self.exit_positions):
            middle = self.exit_positions[(len(self.exit_positions) - 1) // 2]
            values[f"exit_{middle}"] = True
        # The head settings of a disabled exit build nothing: give them their
        # first choice, so one network has one set of values (and one cache
        # entry).
        defaults = {
            "head": self.head_types[0],
            "head_width": self.head_widths[0],
            "threshold": 0.0,
        }
        for s in self.exit_positions:
            if not values.get(f"exit_{s}"):
                for suffix, default in defaults.items():
                    if f"exit_{s}_{suffix}" in values:
                        values[f"exit_{s}_{suffix}"] = default
        return values

    def is_valid(self, values):
        return any(values.get(f"exit_{s}", False) for s in self.exit_positions)

    def thresholds(self, values):
        """Threshold genes of the enabled exits (`threshold_mode="genes"`)."""
        return [
            float(values[f"exit_{s}_threshold"])
            for s in self.exit_positions
            if values.get(f"exit_{s}")
        ]

    def build(self, values):
        """Decodes a candidate (dict or `HyperParameters`) to an EarlyExitModel.

        Raises:
            ValueError: for values that are not the space's (`check_values`,
                before anything is built), or a candidate without an early
                exit (call `repair` first).
        """
        values = self.check_values(values)
        if not self.is_valid(values):
            raise invalid_value(
                "values",
                "a candidate with at least one early exit (use "
                "`SearchSpace.repair`)",
                {k: v for k, v in values.items() if k.startswith("exit_")},
            )
        inputs = keras.Input(self.input_shape, name="image")
        x = inputs
        resolution = values.get("resolution")
        if resolution and resolution != self.input_shape[0]:
            x = keras.layers.Resizing(resolution, resolution, name="resize")(x)
        stem = values.get("stem_filters", self.stem_filters[0])
        x = keras.layers.Conv2D(
            stem, 3, strides=self.stem_stride, padding="same", use_bias=False,
            name="stem_conv",
        )(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="stem_bn")(x)
        x = keras.layers.Activation("hard_swish", name="stem_act")(x)
        for s in range(1, self.num_stages + 1):
            block = block_registry.get(
                values.get(f"stage_{s}_block", self.block_types[0])
            )
            width = values.get(f"stage_{s}_width", self.stage_widths[s - 1][0])
            for b in range(values[f"stage_{s}_depth"]):
                x = block(
                    x,
                    width,
                    values[f"stage_{s}_kernel"],
                    values[f"stage_{s}_expansion"],
                    self.stage_strides[s - 1] if b == 0 else 1,
                    name=f"stage{s}_block{b + 1}",
                )
            x = keras.layers.Identity(name=f"stage{s}_out")(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        outputs = keras.layers.Dense(
            self.num_classes, activation="softmax", name="classifier"
        )(x)
        backbone = keras.Model(inputs, outputs, name="backbone")
        exit_points, heads = [], []
        for s in self.exit_positions:
            if not values.get(f"exit_{s}"):
                continue
            kind = values.get(f"exit_{s}_head", self.head_types[0])
            width = values.get(f"exit_{s}_head_width", self.head_widths[0])
            exit_points.append(f"stage{s}_out")
            heads.append(
                make_head(
                    kind, self.num_classes, width, self.confidence,
                    f"exit_{len(heads) + 1}_head",
                )
            )
        return EarlyExitModel(backbone, exit_points, heads, name="eenn")

    def candidate_key(self, values):
        """The canonical key of a candidate (`records.candidate_key`)."""
        return candidate_key(values)

    def random_values(self, seed=None):
        """A random valid candidate (repaired), for tests and baselines."""
        rng = np.random.default_rng(seed)
        hp = self.hyperparameters()
        values = {p.name: p.prob_to_value(rng.random()) for p in hp.space}
        return self.repair(values)

    # ------------------------------------------------------------------
    def get_config(self):
        return {
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "stage_widths": [list(w) for w in self.stage_widths],
            "depths": list(self.depths),
            "kernel_sizes": list(self.kernel_sizes),
            "expansion_ratios": list(self.expansion_ratios),
            "stage_strides": list(self.stage_strides),
            "stem_filters": list(self.stem_filters),
            "stem_stride": self.stem_stride,
            "resolutions": None if self.resolutions is None else list(self.resolutions),
            "block_types": list(self.block_types),
            "head_types": list(self.head_types),
            "head_widths": list(self.head_widths),
            "confidence": self.confidence,
            "threshold_mode": self.threshold_mode,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**copy.deepcopy(config))


def _allowed(value, allowed):
    """Whether `value` is one of a decision's values, of its type."""
    if allowed is bool:
        return isinstance(value, (bool, np.bool_))
    if allowed is float:
        return is_real(value) and math.isfinite(value) and 0.0 <= value <= 1.0
    if all(isinstance(a, str) for a in allowed):
        return isinstance(value, str) and value in allowed
    return is_integer(value) and value in allowed


def _describe(allowed):
    if allowed is bool:
        return "True or False"
    if allowed is float:
        return "a float in [0, 1]"
    return f"one of {allowed}"
