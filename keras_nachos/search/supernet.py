"""The weight-sharing supernet of a `SearchSpace` (Once-for-All / BigNAS)."""

import copy

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_nachos.checks import check_bool
from keras_nachos.checks import check_int
from keras_nachos.data_utils import check_batch_size
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.models import EarlyExitModel
from keras_nachos.search.blocks import BN_MOMENTUM
from keras_nachos.search.elastic_layers import ElasticBatchNormalization
from keras_nachos.search.elastic_layers import ElasticDepthwiseConv2D
from keras_nachos.search.elastic_layers import channel_mask
from keras_nachos.search.elastic_layers import pad_channels
from keras_nachos.search.head_designs import make_head
from keras_nachos.search.search_space import SearchSpace


class _Functions:
    """Plain holder for the traced functions (Keras must not track them)."""

    def __init__(self):
        self.infer = {}
        self.moments = None


def _hard_swish(x):
    return keras.activations.hard_swish(x)


def _head_signature(head):
    config = head.get_config()
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    return type(head).__name__, repr(sorted(config.items()))


@keras.saving.register_keras_serializable(package="keras_nachos")
class Supernet(keras.Model):
    """Every candidate of a `SearchSpace` in one network with shared weights.

    The supernet is the space's largest network (the deepest stages, the
    widest channels, the largest expansion ratio and kernel), elastic in every
    backbone decision: a candidate is the first `depth` blocks of each stage
    (the others are skipped through their residual connection), the first
    `width` channels, the first `expansion x input` hidden channels of a
    block and the centre `kernel x kernel` of its depthwise kernel. Subnets
    are selected by masks (zeroed channels and kernel taps), so one traced
    function serves every candidate. At every exit position there is one
    shared head per head design the space can put there (head type and
    width); it reads the position's features, whose channels beyond the
    candidate's width are zero.

    Training (`compile`, then `fit` with Keras callbacks and progress bars)
    uses the sandwich rule with in-place distillation (BigNAS): every step
    trains the largest subnet on the labels, then the smallest and
    `num_random` random subnets, each on the largest one's outputs
    (`distillation=True`) or on the labels. Every exit head is trained at
    every step, with one cross-entropy per exit position (its head designs
    sharing the weight) and one for the final exit. The batch-norm moving
    statistics follow the largest subnet; before a subnet is evaluated they
    are re-estimated on a few training batches (`reestimate_batch_norm`).

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
        self._choices = _choice_tables(space)
        self._seed_generator = keras.random.SeedGenerator(self.seed)
        with _initializer_seed(self.seed):
            self._make_layers()
            self._build_all()

    # ------------------------------------------------------------------
    # Layers.
    # ------------------------------------------------------------------
    def _make_layers(self):
        space = self.space
        self.max_stem = max(space.stem_filters)
        self.max_widths = [max(w) for w in space.stage_widths]
        self.max_depth = max(space.depths)
        self.max_kernel = max(space.kernel_sizes)
        self.max_expansion = max(space.expansion_ratios)
        self.has_expand = self.max_expansion != 1
        self.stem_conv = keras.layers.Conv2D(
            self.max_stem, 3, strides=space.stem_stride, padding="same",
            use_bias=False, name="stem_conv",
        )
        self.stem_bn = ElasticBatchNormalization(BN_MOMENTUM, name="stem_bn")
        self.blocks = {}
        in_channels = self.max_stem
        for s in range(1, space.num_stages + 1):
            width = self.max_widths[s - 1]
            for b in range(self.max_depth):
                name = f"stage{s}_block{b + 1}"
                stride = space.stage_strides[s - 1] if b == 0 else 1
                hidden = in_channels * self.max_expansion
                layers = {}
                if self.has_expand:
                    layers["expand"] = keras.layers.Conv2D(
                        hidden, 1, use_bias=False, name=f"{name}_expand"
                    )
                    layers["expand_bn"] = ElasticBatchNormalization(
                        BN_MOMENTUM, name=f"{name}_expand_bn"
                    )
                layers["depthwise"] = ElasticDepthwiseConv2D(
                    self.max_kernel, strides=stride, name=f"{name}_depthwise"
                )
                layers["depthwise_bn"] = ElasticBatchNormalization(
                    BN_MOMENTUM, name=f"{name}_depthwise_bn"
                )
                layers["project"] = keras.layers.Conv2D(
                    width, 1, use_bias=False, name=f"{name}_project"
                )
                layers["project_bn"] = ElasticBatchNormalization(
                    BN_MOMENTUM, name=f"{name}_project_bn"
                )
                self.blocks[name] = layers
                in_channels = width
        self.pool = keras.layers.GlobalAveragePooling2D(name="pool")
        self.classifier = keras.layers.Dense(
            space.num_classes, activation="softmax", name="classifier"
        )
        # One head per distinct design at each exit position; `head_keys`
        # maps (position, head type, head width) to its key.
        self.heads = {}
        self.head_keys = {}
        for s in space.exit_positions:
            seen = {}
            for kind in space.head_types:
                for width in space.head_widths:
                    key = f"exit{s}_{kind}_{width}"
                    head = make_head(kind, space.num_classes, width, False, key)
                    signature = _head_signature(head)
                    if signature not in seen:
                        seen[signature] = key
                        self.heads[key] = head
                    self.head_keys[(s, kind, width)] = seen[signature]
        self.position_heads = {
            s: [k for k in self.heads if k.startswith(f"exit{s}_")]
            for s in space.exit_positions
        }

    def _build_all(self):
        largest = ops.convert_to_tensor(self.largest_encoding())
        x = ops.zeros((1,) + tuple(self.space.input_shape))
        final, heads = self._forward(x, largest, tuple(self.heads))
        self.built = True
        return final, heads

    # ------------------------------------------------------------------
    # Subnet encodings.
    # ------------------------------------------------------------------
    def encode(self, values):
        """The int32 vector `[stem, (depth, width, kernel, expansion) per
        stage]` of a candidate (dict of search-space values)."""
        space = self.space
        encoding = [values.get("stem_filters", space.stem_filters[0])]
        for s in range(1, space.num_stages + 1):
            encoding += [
                values[f"stage_{s}_depth"],
                values.get(f"stage_{s}_width", space.stage_widths[s - 1][0]),
                values[f"stage_{s}_kernel"],
                values[f"stage_{s}_expansion"],
            ]
        return np.asarray(encoding, "int32")

    def largest_encoding(self):
        return np.asarray([max(c) for c in self._choices], "int32")

    def smallest_encoding(self):
        return np.asarray([min(c) for c in self._choices], "int32")

    def largest_values(self):
        """The candidate values of the largest subnet (every exit on, first
        head design)."""
        return self._extreme_values(max)

    def smallest_values(self):
        return self._extreme_values(min)

    def _extreme_values(self, pick):
        space = self.space
        values = space.repair(space.random_values(seed=0))
        if len(space.stem_filters) > 1:
            values["stem_filters"] = pick(space.stem_filters)
        for s in range(1, space.num_stages + 1):
            values[f"stage_{s}_depth"] = pick(space.depths)
            if f"stage_{s}_width" in values:
                values[f"stage_{s}_width"] = pick(space.stage_widths[s - 1])
            values[f"stage_{s}_kernel"] = pick(space.kernel_sizes)
            values[f"stage_{s}_expansion"] = pick(space.expansion_ratios)
        return values

    def _sample_encoding(self):
        """A random subnet encoding, drawn in the graph."""
        parts = []
        for choices in self._choices:
            index = keras.random.randint(
                (), 0, len(choices), seed=self._seed_generator
            )
            parts.append(ops.take(ops.convert_to_tensor(choices, "int32"), index))
        return ops.stack(parts)

    # ------------------------------------------------------------------
    # The masked forward pass.
    # ------------------------------------------------------------------
    def _forward(self, inputs, encoding, head_keys, training=False,
                 update=False, moments=None):
        """Runs the subnet `encoding`; returns `(final, {head key: output})`."""
        space = self.space
        bn = dict(training=training, update=update, moments=moments)
        stem = encoding[0]
        x = self.stem_conv(inputs)
        x = self.stem_bn.masked_call(x, channel_mask(stem, self.max_stem), **bn)
        x = _hard_swish(x)
        active_in = stem
        features = {}
        for s in range(1, space.num_stages + 1):
            depth, width, kernel, expansion = (
                encoding[1 + 4 * (s - 1) + i] for i in range(4)
            )
            max_width = self.max_widths[s - 1]
            width_mask = channel_mask(width, max_width)
            for b in range(self.max_depth):
                layers = self.blocks[f"stage{s}_block{b + 1}"]
                stride = space.stage_strides[s - 1] if b == 0 else 1
                hidden = active_in * expansion
                if self.has_expand:
                    max_hidden = layers["expand"].filters
                    hidden_mask = channel_mask(hidden, max_hidden)
                    y = layers["expand"](x)
                    y = layers["expand_bn"].masked_call(y, hidden_mask, **bn)
                    y = _hard_swish(y)
                    if 1 in space.expansion_ratios:
                        # Expansion 1 has no expand conv: the block's input.
                        y = ops.where(
                            expansion == 1, pad_channels(x, max_hidden), y
                        )
                else:
                    max_hidden = int(x.shape[-1])
                    hidden_mask = channel_mask(hidden, max_hidden)
                    y = x
                y = layers["depthwise"].masked_call(y, kernel)
                y = layers["depthwise_bn"].masked_call(y, hidden_mask, **bn)
                y = _hard_swish(y)
                y = layers["project"](y)
                y = layers["project_bn"].masked_call(y, width_mask, **bn)
                if b == 0:
                    if stride == 1:
                        # The candidate adds its input when the widths match.
                        same = ops.cast(ops.equal(active_in, width), y.dtype)
                        y = y + same * pad_channels(x, max_width)
                    x = y
                else:
                    # Blocks past the subnet's depth are skipped.
                    x = x + ops.cast(b < depth, y.dtype) * y
                active_in = width
            features[s] = x
        final = self.classifier(self.pool(x))
        heads = {}
        for key in head_keys:
            s = int(key[4:key.index("_")])
            heads[key] = self.heads[key](features[s], training=training)
        return final, heads

    def call(self, inputs, training=False):
        """The largest subnet: a dict with `"final"` and every head's output."""
        final, heads = self._forward(
            inputs, ops.convert_to_tensor(self.largest_encoding()),
            tuple(self.heads), training=training,
        )
        return {"final": final, **heads}

    # ------------------------------------------------------------------
    # Training.
    # ------------------------------------------------------------------
    def compile(self, optimizer="adam", **kwargs):
        """Configures training; `optimizer` and `keras.Model.compile`'s other
        arguments except `loss` and `metrics` (the supernet's losses are the
        exit cross-entropies of its subnets)."""
        for name in ("loss", "metrics", "weighted_metrics"):
            if kwargs.get(name) is not None:
                raise invalid_value(
                    name, "nothing: the supernet trains its subnets' exit "
                    "losses itself", kwargs[name],
                )
            kwargs.pop(name, None)
        super().compile(optimizer=optimizer, **kwargs)
        self._trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("loss", "largest_accuracy", "smallest_accuracy")
        }

    def get_compile_config(self):
        if not getattr(self, "compiled", False) or self.optimizer is None:
            return None
        return {"optimizer": keras.optimizers.serialize(self.optimizer)}

    def compile_from_config(self, config):
        """Compiles a loaded supernet as it was saved, so `fit` goes on with
        the optimizer's state."""
        self.compile(optimizer=keras.optimizers.deserialize(config["optimizer"]))
        self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return list(getattr(self, "_trackers", {}).values())

    def _exit_loss(self, targets, final, heads, soft):
        """Mean cross-entropy per exit position and the final exit."""
        if soft:
            def loss(target, output):
                return ops.mean(
                    keras.losses.categorical_crossentropy(target, output)
                )
        else:
            def loss(target, output):
                return ops.mean(
                    keras.losses.sparse_categorical_crossentropy(target, output)
                )
        total = loss(targets["final"] if soft else targets, final)
        for keys in self.position_heads.values():
            terms = [loss(targets[k] if soft else targets, heads[k]) for k in keys]
            total = total + ops.sum(ops.stack(terms)) / len(terms)
        return total

    def train_step(self, data):
        x, y = data[0], data[1]
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        keys = tuple(self.heads)
        largest = ops.convert_to_tensor(self.largest_encoding())
        smallest = ops.convert_to_tensor(self.smallest_encoding())
        with tf.GradientTape() as tape:
            final, heads = self._forward(x, largest, keys, training=True,
                                         update=True)
            total = self._exit_loss(y, final, heads, soft=False)
            teacher = {"final": final, **heads}
            teacher = {k: ops.stop_gradient(v) for k, v in teacher.items()}
            small_final = None
            for i in range(1 + self.num_random):
                encoding = smallest if i == 0 else self._sample_encoding()
                out_final, out_heads = self._forward(
                    x, encoding, keys, training=True
                )
                if self.distillation:
                    total = total + self._exit_loss(
                        teacher, out_final, out_heads, soft=True
                    )
                else:
                    total = total + self._exit_loss(
                        y, out_final, out_heads, soft=False
                    )
                if i == 0:
                    small_final = out_final
        variables = self.trainable_variables
        gradients = tape.gradient(total, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._update_trackers(total, y, final, small_final)

    def test_step(self, data):
        """Largest and smallest subnets on the data: the largest with the
        moving batch-norm statistics (its own), the smallest with each
        batch's statistics (the moving ones are not its own; a batch's are
        what re-estimation would give, up to the batch's noise)."""
        x, y = data[0], data[1]
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        final, heads = self._forward(
            x, ops.convert_to_tensor(self.largest_encoding()), tuple(self.heads)
        )
        small, _ = self._forward(
            x, ops.convert_to_tensor(self.smallest_encoding()), (),
            training=True,
        )
        total = self._exit_loss(y, final, heads, soft=False)
        return self._update_trackers(total, y, final, small)

    def _update_trackers(self, total, y, final, small_final):
        trackers = self._trackers
        trackers["loss"].update_state(total)
        trackers["largest_accuracy"].update_state(
            ops.cast(ops.equal(ops.argmax(final, -1), y), "float32")
        )
        trackers["smallest_accuracy"].update_state(
            ops.cast(ops.equal(ops.argmax(small_final, -1), y), "float32")
        )
        return {name: t.result() for name, t in trackers.items()}

    # ------------------------------------------------------------------
    # Subnets.
    # ------------------------------------------------------------------
    def _candidate(self, values):
        values = self.space.repair(dict(values))
        for name, choices in _value_choices(self.space).items():
            if name in values and values[name] not in choices:
                raise invalid_value(
                    "values", f"`{name}` among {list(choices)}", values[name]
                )
        return values

    def subnet_head_keys(self, values):
        """The supernet head of each early exit the candidate enables."""
        space = self.space
        keys = []
        for s in space.exit_positions:
            if values.get(f"exit_{s}"):
                kind = values.get(f"exit_{s}_head", space.head_types[0])
                width = values.get(f"exit_{s}_head_width", space.head_widths[0])
                keys.append(self.head_keys[(s, kind, width)])
        return keys

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
        values = self._candidate(values)
        check_batch_size(batch_size)
        max_samples = check_int("max_samples", max_samples, min_value=1)
        x = np.asarray(x, "float32")
        if x.ndim != 4 or x.shape[0] == 0:
            raise invalid_value(
                "x", "a non-empty array of images (N, H, W, C)", x.shape
            )
        x = x[:max_samples]
        encoding = ops.convert_to_tensor(self.encode(values))
        if self._functions.moments is None:
            def moments_fn(images, code):
                collected = {}
                self._forward(images, code, (), training=True, moments=collected)
                return collected
            self._functions.moments = tf.function(
                moments_fn, input_signature=self._signature()
            )
        sums = {}
        for start in range(0, len(x), batch_size):
            batch = x[start:start + batch_size]
            weight = len(batch)
            for name, (mean, mean_square) in self._functions.moments(
                batch, encoding
            ).items():
                acc = sums.setdefault(name, [0.0, 0.0])
                acc[0] = acc[0] + weight * np.asarray(mean, "float64")
                acc[1] = acc[1] + weight * np.asarray(mean_square, "float64")
        layers = self._batch_norms()
        for name, (mean_sum, square_sum) in sums.items():
            mean = mean_sum / len(x)
            variance = np.maximum(square_sum / len(x) - mean**2, 0.0)
            layers[name].moving_mean.assign(mean.astype("float32"))
            layers[name].moving_variance.assign(variance.astype("float32"))
        return len(x)

    def _signature(self):
        return [
            tf.TensorSpec((None,) + tuple(self.space.input_shape), "float32"),
            tf.TensorSpec((len(self._choices),), "int32"),
        ]

    def _batch_norms(self):
        layers = {self.stem_bn.name: self.stem_bn}
        for block in self.blocks.values():
            for layer in block.values():
                if isinstance(layer, ElasticBatchNormalization):
                    layers[layer.name] = layer
        return layers

    def predict_subnet(self, values, x, batch_size=256):
        """Every exit of the subnet `values` on `x`, with the current moving
        statistics (call `reestimate_batch_norm` first).

        Returns:
            List of numpy arrays, one per exit of the candidate (its early
            exits in order, then the final exit), as
            `EarlyExitModel.predict_exits` returns them.
        """
        values = self._candidate(values)
        check_batch_size(batch_size)
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
        x = np.asarray(x, "float32")
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
            values: Dict, the candidate's search-space values.
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
        values = self._candidate(values)
        if model is not None and not isinstance(model, EarlyExitModel):
            raise invalid_type(
                "model", "an EarlyExitModel built by `space.build(values)`",
                model,
            )
        if x is not None:
            self.reestimate_batch_norm(
                values, x, batch_size=batch_size, max_samples=max_samples
            )
        if model is None:
            model = self.space.build(values)
        backbone = model.backbone
        own = {self.stem_conv.name: self.stem_conv, self.stem_bn.name: self.stem_bn,
               self.classifier.name: self.classifier}
        for block in self.blocks.values():
            for layer in block.values():
                own[layer.name] = layer
        for layer in backbone.layers:
            if not layer.weights:
                continue
            source = own.get(layer.name)
            if source is None:
                raise ValueError(
                    f"The supernet has no layer `{layer.name}` for the "
                    f"candidate's layer of that name."
                )
            centre = isinstance(source, ElasticDepthwiseConv2D)
            for target, weight in zip(layer.weights, source.weights):
                target.assign(_inherit(weight, tuple(target.shape), centre))
        for head, key in zip(model.heads, self.subnet_head_keys(values)):
            _inherit_head(head, self.heads[key])
        return model

    # ------------------------------------------------------------------
    # Serialisation.
    # ------------------------------------------------------------------
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


# ----------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------
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


def _choice_tables(space):
    tables = [list(space.stem_filters)]
    for s in range(space.num_stages):
        tables += [
            list(space.depths), list(space.stage_widths[s]),
            list(space.kernel_sizes), list(space.expansion_ratios),
        ]
    return tables


def _value_choices(space):
    return {p.name: list(p.values) for p in space.hyperparameters().space
            if hasattr(p, "values")}


class _initializer_seed:
    """Seeds the weight initialisers (and NumPy/Python), then restores the
    caller's NumPy and Python streams."""

    def __init__(self, seed):
        self.seed = seed

    def __enter__(self):
        import random

        self._python = random.getstate()
        self._numpy = np.random.get_state()
        keras.utils.set_random_seed(self.seed)

    def __exit__(self, *exc):
        import random

        random.setstate(self._python)
        np.random.set_state(self._numpy)
        return False


def _inherit(weight, shape, centre=False):
    """`weight` sliced to `shape`: the first entries of every axis, or, for a
    depthwise kernel (`centre=True`), the centre of the two spatial axes."""
    value = np.asarray(weight)
    index = []
    for axis, size in enumerate(shape):
        if centre and axis < 2:
            start = (value.shape[axis] - size) // 2
            index.append(slice(start, start + size))
        else:
            index.append(slice(0, size))
    return value[tuple(index)]


def _inherit_head(target, source):
    """Copies a shared head's weights into a candidate's head of the same
    design, whose input has fewer channels (the first ones)."""
    before_flatten = None
    pairs = zip(
        target.sublayer_shapes(_head_input_shape(target)),
        source.sublayer_shapes(_head_input_shape(source)),
    )
    for (t_layer, t_in, _), (s_layer, s_in, _) in pairs:
        if isinstance(t_layer, keras.layers.Flatten):
            before_flatten = (t_in, s_in)
            continue
        for t_weight, s_weight in zip(t_layer.weights, s_layer.weights):
            shape = tuple(t_weight.shape)
            value = np.asarray(s_weight)
            if (before_flatten is not None and len(shape) == 2
                    and value.shape[0] != shape[0]):
                # A dense layer after a flatten: its rows are (h, w, channel).
                t_in, s_in = before_flatten
                spatial = tuple(s_in[1:-1])
                value = value.reshape(spatial + (s_in[-1], value.shape[1]))
                value = value[..., :t_in[-1], :].reshape(shape)
            else:
                value = _inherit(value, shape)
            t_weight.assign(value)
        if t_layer.weights:
            before_flatten = None


def _head_input_shape(head):
    """The input shape a built head was built with."""
    shapes = getattr(head, "_build_shapes_dict", None) or {}
    if shapes:
        return tuple(next(iter(shapes.values())))
    raise ValueError(f"The head `{head.name}` is not built.")


def load_supernet(path):
    """Loads a `Supernet` saved with `supernet.save(path)` (a .keras file).

    Raises:
        ValueError: naming `supernet` and the path, for a missing file or a
            file that holds another model.
    """
    import os

    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        raise invalid_value(
            "supernet", "a Supernet or the path of one saved with "
            "`Supernet.save` (`keras-nachos supernet train` writes one)", path,
        )
    model = keras.models.load_model(path)
    if not isinstance(model, Supernet):
        raise invalid_value(
            "supernet", f"a saved Supernet (the file holds a "
            f"{type(model).__name__})", path,
        )
    return model
