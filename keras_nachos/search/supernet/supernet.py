"""The weight-sharing supernet of a `SearchSpace` (Once-for-All / BigNAS)."""

import copy
import os
import random

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_nachos.checks import check_bool
from keras_nachos.checks import check_int
from keras_nachos.data_utils import check_batch_size
from keras_nachos.data_utils import check_inputs
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.models import EarlyExitModel
from keras_nachos.search.blocks import ACTIVATION
from keras_nachos.search.blocks import BN_MOMENTUM
from keras_nachos.search.search_space import SearchSpace
from keras_nachos.search.state_files import load_keras_file
from keras_nachos.search.supernet.batch_norm_statistics import (
    reestimate_batch_norm,
)
from keras_nachos.search.supernet.elastic_block import ElasticInvertedResidual
from keras_nachos.search.supernet.elastic_layers import (
    ElasticBatchNormalization,
)
from keras_nachos.search.supernet.elastic_layers import channel_mask
from keras_nachos.search.supernet.extraction import inherit_head
from keras_nachos.search.supernet.extraction import inherit_weights
from keras_nachos.search.supernet.sandwich_training import SandwichTraining
from keras_nachos.search.supernet.shared_heads import make_shared_heads
from keras_nachos.search.supernet.shared_heads import subnet_head_keys
from keras_nachos.search.supernet.subnet_encoding import SubnetEncoding


class _Functions:
    """Plain holder for the traced functions (Keras must not track them)."""

    def __init__(self):
        self.infer = {}
        self.moments = None


@keras.saving.register_keras_serializable(package="keras_nachos")
class Supernet(SandwichTraining, keras.Model):
    """Every candidate of a `SearchSpace` in one network with shared weights.

    The supernet is the space's largest network (the deepest stages, the
    widest channels, the largest expansion ratio and kernel), elastic in every
    backbone decision: a candidate is the first `depth` blocks of each stage
    (the others are skipped through their residual connection), the first
    `width` channels, the first `expansion x input` hidden channels of a
    block and the centre `kernel x kernel` of its depthwise kernel. Subnets
    are selected by masks (zeroed channels and kernel taps), so one traced
    function serves every candidate. Each block is an
    `ElasticInvertedResidual`, made from the description the candidates'
    blocks are made from. At every exit position there is one shared head
    per head design the space can put there (head type and width, keyed by
    `HeadKey`); it reads the position's features, whose channels beyond the
    candidate's width are zero.

    Training (`compile`, then `fit` with Keras callbacks and progress bars)
    uses the sandwich rule with in-place distillation (BigNAS,
    `SandwichTraining`): every step trains the largest subnet on the labels,
    then the smallest and `num_random` random subnets, each on the largest
    one's outputs (`distillation=True`) or on the labels. Every exit head is
    trained at every step, with one cross-entropy per exit position (its
    head designs sharing the weight) and one for the final exit. The
    batch-norm moving statistics follow the largest subnet; before a subnet
    is evaluated they are re-estimated on a few training batches
    (`reestimate_batch_norm`).

    `extract(values)` gives the candidate as a standalone `EarlyExitModel`
    (`space.build(values)`, so its MACs are exact) with the inherited
    weights; its outputs are the supernet's subnet outputs
    (`predict_subnet`) up to float rounding.

    Args:
        space: The `SearchSpace` (inverted-residual blocks, one input
            resolution, heads without confidence outputs).
        num_random: Integer, random subnets per step besides the largest and
            the smallest. Defaults to `2`.
        distillation: Boolean, whether the other subnets learn from the
            largest one's outputs (in-place distillation) rather than the
            labels. Defaults to `True`.
        seed: Integer, of the subnet sampling and the weight initialisation.
            Defaults to `0`.
        **kwargs: `keras.Model` keyword arguments, such as `name`.

    Example:

    >>> space = SearchSpace((16, 16, 1), 10, stage_widths=[[8, 12], [16]],
    ...                     depths=(1, 2), kernel_sizes=(3, 5),
    ...                     expansion_ratios=(2, 3), head_types=("global_pool",),
    ...                     head_widths=(0,))
    >>> supernet = Supernet(space)
    >>> supernet.compile(optimizer=keras.optimizers.Adam(3e-3))
    >>> values = space.random_values(seed=0)
    >>> model = supernet.extract(values)  # an EarlyExitModel
    """

    def __init__(self, space, num_random=2, distillation=True, seed=0, **kwargs):
        if isinstance(space, dict):
            space = SearchSpace.from_config(space)
        if not isinstance(space, SearchSpace):
            raise invalid_type("space", "a SearchSpace", space)
        _check_supported(space)
        kwargs.setdefault("name", "supernet")
        super().__init__(**kwargs)
        self.space = space
        self.num_random = check_int("num_random", num_random, min_value=0)
        self.distillation = check_bool("distillation", distillation)
        self.seed = check_int("seed", seed)
        self._functions = _Functions()
        self._subnets = SubnetEncoding(space)
        self._seed_generator = keras.random.SeedGenerator(self.seed)
        with _initializer_seed(self.seed):
            self._make_layers()
            self._build_all()

    # === Layers ===
    def _make_layers(self):
        # The layers are made, tracked and built in this order (the seeded
        # initial weights and the saved files depend on it).
        space = self.space
        self.max_stem = max(space.stem_filters)
        self.max_widths = [max(w) for w in space.stage_widths]
        self.max_depth = max(space.depths)
        self.stem_conv = keras.layers.Conv2D(
            self.max_stem, 3, strides=space.stem_stride, padding="same",
            use_bias=False, name="stem_conv",
        )
        self.stem_bn = ElasticBatchNormalization(BN_MOMENTUM, name="stem_bn")
        self._stages = []
        in_channels = self.max_stem
        for s in range(1, space.num_stages + 1):
            stage = []
            for b in range(self.max_depth):
                stage.append(ElasticInvertedResidual(
                    # As `SearchSpace.build` names the candidate's blocks.
                    f"stage{s}_block{b + 1}", in_channels,
                    self.max_widths[s - 1], max(space.kernel_sizes),
                    space.expansion_ratios,
                    space.stage_strides[s - 1] if b == 0 else 1, b,
                ))
                in_channels = self.max_widths[s - 1]
            self._stages.append(stage)
        # Keras saves weights by attribute path: the blocks' layers live in
        # `blocks`, a dict of dicts, as in supernets saved before
        # `ElasticInvertedResidual` (a plain object) held them.
        self.blocks = {
            block.name: block.layers for stage in self._stages for block in stage
        }
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.classifier = keras.layers.Dense(
            space.num_classes, activation="softmax", name="classifier"
        )
        self.heads, self.head_keys = make_shared_heads(space)
        self.position_heads = {
            s: [k for k in self.heads if k.position == s]
            for s in space.exit_positions
        }

    def _build_all(self):
        largest = ops.convert_to_tensor(self._subnets.largest())
        x = ops.zeros((1,) + tuple(self.space.input_shape))
        self._forward(x, largest, tuple(self.heads))
        self.built = True

    def batch_norm_layers(self):
        """Every `ElasticBatchNormalization` layer, in order."""
        layers = [self.stem_bn]
        for stage in self._stages:
            for block in stage:
                layers += block.batch_norms()
        return layers

    # === Subnets ===
    def encode(self, values):
        """The int32 vector `[stem, (depth, width, kernel, expansion) per
        stage]` of a candidate (dict of search-space values)."""
        return self._subnets.encode(values)

    def largest_encoding(self):
        return self._subnets.largest()

    def smallest_encoding(self):
        return self._subnets.smallest()

    def largest_values(self):
        """The candidate values of the largest subnet (every exit on, first
        head design)."""
        return self._subnets.extreme_values(max)

    def smallest_values(self):
        return self._subnets.extreme_values(min)

    def subnet_head_keys(self, values):
        """The `HeadKey` of the supernet head of each early exit the
        candidate enables."""
        return subnet_head_keys(self.space, self.head_keys, values)

    # === The masked forward pass ===
    def _forward(self, inputs, encoding, head_keys, training=False,
                 update=False, moments=None):
        """Runs the subnet `encoding`; returns `(final, {head key: output})`."""
        bn = dict(training=training, update=update, moments=moments)
        stem = encoding[0]
        x = self.stem_conv(inputs)
        x = self.stem_bn.masked_call(x, channel_mask(stem, self.max_stem), **bn)
        x = keras.activations.get(ACTIVATION)(x)
        active_in = stem
        features = {}
        for s, stage in enumerate(self._stages, start=1):
            depth, width, kernel, expansion = (
                encoding[1 + 4 * (s - 1) + i] for i in range(4)
            )
            for block in stage:
                x = block(x, active_in, width, kernel, expansion, depth, bn)
                active_in = width
            features[s] = x
        final = self.classifier(self.pool(x))
        heads = {
            key: self.heads[key](features[key.position], training=training)
            for key in head_keys
        }
        return final, heads

    def call(self, inputs, training=False):
        """The largest subnet: a dict with `"final"` and every head's output
        (under its `HeadKey.name`)."""
        final, heads = self._forward(
            inputs, ops.convert_to_tensor(self._subnets.largest()),
            tuple(self.heads), training=training,
        )
        return {"final": final, **{k.name: v for k, v in heads.items()}}

    def _signature(self):
        return [
            tf.TensorSpec((None,) + tuple(self.space.input_shape), "float32"),
            tf.TensorSpec((len(self._subnets),), "int32"),
        ]

    # === Subnet evaluation and extraction ===
    def _images(self, x, argument="x"):
        """`x` as float32 images, checked: finite, of the space's input
        shape, at least one (`data_utils.check_inputs`)."""
        check_inputs(x, (None,) + tuple(self.space.input_shape), argument,
                     "images")
        x = np.asarray(x, "float32")
        if x.shape[0] == 0:
            raise invalid_value(argument, "images of at least one sample",
                                x.shape)
        return x

    def reestimate_batch_norm(self, values, x, batch_size=256, max_samples=2000):
        """Sets the batch-norm statistics to those of the subnet `values`.

        Runs the subnet on the first `max_samples` images of `x` in training
        mode (each batch normalised with its own statistics, as in training)
        and sets every batch norm's moving mean and variance to the mean and
        variance over all those images (exact averages of the batches'
        moments, weighted by batch size; not a momentum average).

        Args:
            values: Dict, the candidate's search-space values.
            x: Array of training images.
            batch_size: Integer. Defaults to `256`.
            max_samples: Integer, images used. Defaults to `2000`.

        Returns:
            The number of images used.
        """
        values = self._subnets.candidate(values)
        check_batch_size(batch_size)
        max_samples = check_int("max_samples", max_samples, min_value=1)
        x = self._images(x)[:max_samples]
        encoding = ops.convert_to_tensor(self.encode(values))
        reestimate_batch_norm(self, encoding, x, batch_size)
        return len(x)

    def predict_subnet(self, values, x, batch_size=256):
        """Every exit of the subnet `values` on `x`, with the current moving
        statistics (call `reestimate_batch_norm` first).

        Returns:
            List of numpy arrays, one per exit of the candidate (its early
            exits in order, then the final exit), as
            `EarlyExitModel.predict_exits` returns them.
        """
        values = self._subnets.candidate(values)
        check_batch_size(batch_size)
        x = self._images(x)
        keys = tuple(self.subnet_head_keys(values))
        function = self._functions.infer.get(keys)
        if function is None:
            def infer(images, code):
                final, heads = self._forward(images, code, keys)
                return [heads[k] for k in keys] + [final]
            function = self._functions.infer[keys] = tf.function(
                infer, input_signature=self._signature()
            )
        encoding = ops.convert_to_tensor(self.encode(values))
        outputs = [[] for _ in range(len(keys) + 1)]
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            for i, out in enumerate(function(batch, encoding)):
                outputs[i].append(np.asarray(out))
        return [np.concatenate(o) for o in outputs]

    def extract(self, values, x=None, batch_size=256, max_samples=2000,
                model=None):
        """The candidate `values` as an `EarlyExitModel` with inherited weights.

        The model is `space.build(values)` (its `exit_macs` are the
        candidate's exact counts); every weight is the supernet's, sliced to
        the candidate (first channels, centre of the kernel), the batch-norm
        statistics included.

        Args:
            values: Dict, the candidate's search-space values: the keys of
                `space.decisions()`, each with one of its values (checked
                before any work: an unknown or misspelt key, a value of
                another type or outside the space raises a `ValueError`
                naming the key and what it allows).
            x: Optional training images: when given, the subnet's batch-norm
                statistics are re-estimated on them first
                (`reestimate_batch_norm`); otherwise the current ones are
                copied.
            batch_size, max_samples: Of the re-estimation.
            model: Optional `space.build(values)` built already (for its
                MACs, say): its weights are overwritten and it is returned,
                instead of building the candidate again.

        Returns:
            An uncompiled `EarlyExitModel`.
        """
        values = self._subnets.candidate(values)
        if x is not None:
            check_batch_size(batch_size)
            check_int("max_samples", max_samples, min_value=1)
            x = self._images(x)
        if model is not None:
            self._check_built(model, values)
        if x is not None:
            self.reestimate_batch_norm(
                values, x, batch_size=batch_size, max_samples=max_samples
            )
        if model is None:
            model = self.space.build(values)
        inherit_weights(self._inherited_layers(values), model.backbone)
        for head, key in zip(model.heads, self.subnet_head_keys(values)):
            inherit_head(head, self.heads[key])
        return model

    def _check_built(self, model, values):
        """Raises unless `model` is `space.build(values)`'s network."""
        expected = "an EarlyExitModel built by `space.build(values)`"
        if not isinstance(model, EarlyExitModel):
            raise invalid_type("model", expected, model)
        points = [
            f"stage{s}_out" for s in self.space.exit_positions
            if values.get(f"exit_{s}")
        ]
        if list(model.exit_points) != points or tuple(
                model.inputs[0].shape[1:]) != tuple(self.space.input_shape):
            raise invalid_value(
                "model", f"{expected} (exits at {points}, input shape "
                f"{tuple(self.space.input_shape)})",
                f"a model with exits at {list(model.exit_points)} and input "
                f"shape {tuple(model.inputs[0].shape[1:])}",
            )

    def _inherited_layers(self, values):
        """`(candidate layer name, supernet layer)` for every layer with
        weights of the candidate's backbone."""
        pairs = [("stem_conv", self.stem_conv), ("stem_bn", self.stem_bn)]
        for s, stage in enumerate(self._stages, start=1):
            depth = values[f"stage_{s}_depth"]
            expansion = values[f"stage_{s}_expansion"]
            for block in stage[:depth]:
                pairs += block.inherited_layers(expansion)
        pairs.append(("classifier", self.classifier))
        return pairs

    # === Config ===
    def get_config(self):
        return {
            "space": self.space.get_config(),
            "num_random": self.num_random,
            "distillation": self.distillation,
            "seed": self.seed,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)
        config["space"] = SearchSpace.from_config(config["space"])
        return cls(**config)


def load_supernet(path):
    """Loads a `Supernet` saved with `supernet.save(path)` (a .keras file).

    Raises:
        ValueError: naming `supernet` and the path, for a missing file or a
            file that holds another model; a `DamagedStateError` (a
            `ValueError`) naming the file and what to do, for a damaged one.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise invalid_value(
            "supernet", "a Supernet or the path of one saved with "
            "`Supernet.save` (`keras-nachos supernet train` writes one)", path,
        )
    model = load_keras_file(
        path, what="a trained supernet",
        remedy="train it again (`keras-nachos supernet train --out "
        f"{path} --overwrite` with the arguments in its .json, or "
        "`Supernet.fit` then `save`), or give another supernet",
    )
    if not isinstance(model, Supernet):
        raise invalid_value(
            "supernet", f"a saved Supernet (the file holds a "
            f"{type(model).__name__})", path,
        )
    return model


def _check_supported(space):
    if tuple(space.block_types) != ("inverted_residual",):
        raise invalid_value(
            "space", "a space of inverted-residual blocks only (the supernet "
            "has no elastic form of other block types)",
            f"SearchSpace(block_types={list(space.block_types)})",
        )
    if space.resolutions and len(set(space.resolutions)) > 1:
        raise invalid_value(
            "space", "a space with one input resolution (a searched "
            "resolution is not elastic in the supernet)",
            f"SearchSpace(resolutions={list(space.resolutions)})",
        )
    if space.confidence:
        raise invalid_value(
            "space", "a space without confidence heads (the supernet trains "
            "exit cross-entropies, not the NACHOS loss)",
            "SearchSpace(confidence=True)",
        )
    if any(k < 3 for k in space.kernel_sizes) and len(space.kernel_sizes) > 1:
        raise invalid_value(
            "space", "kernel sizes >= 3 when several are searched",
            f"SearchSpace(kernel_sizes={list(space.kernel_sizes)})",
        )
    if any(s > 2 for s in space.stage_strides):
        raise invalid_value(
            "space", "stage strides of 1 or 2",
            f"SearchSpace(stage_strides={list(space.stage_strides)})",
        )


class _initializer_seed:
    """Seeds the weight initialisers (and NumPy/Python), then restores the
    caller's NumPy and Python streams."""

    def __init__(self, seed):
        self.seed = seed

    def __enter__(self):
        self._python = random.getstate()
        self._numpy = np.random.get_state()
        keras.utils.set_random_seed(self.seed)

    def __exit__(self, *exc):
        random.setstate(self._python)
        np.random.set_state(self._numpy)
        return False
