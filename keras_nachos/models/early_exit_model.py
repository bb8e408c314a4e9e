"""The early-exit model: a backbone with exit heads at chosen points.

The class holds the model's graph (construction, exits, stages, costs,
serialization); its training (`early_exit_trainer.EarlyExitTrainer`) and its
inference and export (`early_exit_inference.EarlyExitInference`) are parts
of it in modules of their own, as Keras' `Trainer` is a part of
`keras.Model`.
"""

import keras

from keras_nachos import heads as heads_module
from keras_nachos.costs import stage_costs
from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value
from keras_nachos.models import graph_cuts
from keras_nachos.models.early_exit_inference import EarlyExitInference
from keras_nachos.models.early_exit_trainer import EarlyExitTrainer
from keras_nachos.models.early_exit_trainer import TrainingState
from keras_nachos.models.head_factory import adapt_head_pooling
from keras_nachos.models.head_factory import head_factory
from keras_nachos.models.head_factory import is_adaptive
from keras_nachos.models.stages import StagePlan


class _Derived:
    """Plain holder for objects derived from the graph, that Keras must not
    track (the stage plan, exit costs, the staged runner)."""

    def __init__(self):
        self.stage_plan = None
        self.exit_costs = None
        self.device_costs = None
        self.runner = None


@keras.saving.register_keras_serializable(package="keras_nachos")
class EarlyExitModel(EarlyExitTrainer, EarlyExitInference, keras.Model):
    """A backbone with early-exit classifiers, one output per exit.

    The model is a functional Keras model whose outputs are a dict of class
    probabilities, one entry per exit, in order: `"exit_1"`, `"exit_2"`, ...,
    `"final"` (`model.exit_names`). Heads with `confidence=True` add one column
    (the exit confidence) after the `num_classes` probabilities.

    Most users build one with `EarlyExitModel.from_backbone(...)`. Training
    takes one label array for all exits (`model.fit(x, y)`); inference with a
    real early exit is `model.predict_early_exit(x, thresholds)`.

    Args:
        backbone: A functional `keras.Model` with a single input and output.
        exit_points: List of layer names of `backbone`, in graph order; an
            early exit is attached after each.
        heads: List of `ExitHead` layers, one per exit point.
        final_head: Optional `ExitHead` put on the backbone's output (for a
            backbone without a classifier). Defaults to `None`: the backbone's
            output is the final exit.
        final_softmax: Boolean, whether to apply a softmax to the backbone's
            output (when it gives logits). Defaults to `False`.
        **kwargs: `keras.Model` keyword arguments, such as `name`.
    """

    def __init__(
        self,
        backbone,
        exit_points,
        heads,
        final_head=None,
        final_softmax=False,
        **kwargs,
    ):
        backbone = graph_cuts.as_functional(backbone)
        exit_points = list(exit_points)
        heads = list(heads)
        if len(heads) != len(exit_points):
            raise invalid_value(
                "heads",
                f"one head per exit point ({len(exit_points)})",
                heads,
            )
        # === Layers ===
        cuts = graph_cuts.find_cut_tensors(backbone, exit_points)
        final_layer = final_head
        if final_layer is None and final_softmax:
            # Outputs in float32 under mixed precision, as Keras recommends.
            final_layer = keras.layers.Softmax(
                name="final_softmax",
                dtype=keras.config.dtype_policy().variable_dtype,
            )

        # === Functional Model ===
        outputs = {}
        for i, (cut, head) in enumerate(zip(cuts, heads)):
            outputs[f"exit_{i + 1}"] = head(cut)
        final = backbone.outputs[0]
        if final_layer is not None:
            final = final_layer(final)
        outputs["final"] = final
        super().__init__(inputs=backbone.inputs[0], outputs=outputs, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.exit_points = exit_points
        self.heads = heads
        self.final_head = final_head
        self.final_softmax = final_softmax
        self.exit_names = [f"exit_{i + 1}" for i in range(len(heads))] + [
            "final"
        ]
        self.num_classes = int(final.shape[-1])
        self._cut_tensors = cuts
        self._exit_tensors = [outputs[n] for n in self.exit_names]
        self._final_layer = final_layer
        self._training_state = TrainingState(len(self.exit_names))
        self._derived = _Derived()

    # ------------------------------------------------------------------
    # Construction from a backbone.
    # ------------------------------------------------------------------
    @classmethod
    def from_backbone(
        cls,
        backbone,
        exit_points,
        num_classes,
        head="global_pool",
        confidence=False,
        final_head=None,
        name=None,
    ):
        """Attaches early exits to a functional backbone.

        Args:
            backbone: A functional `keras.Model` (e.g. a
                `keras.applications` model built with `weights=None`).
            exit_points: List of layer names, in graph order. Each must cut
                the graph into a before and an after: a layer inside a
                residual branch is rejected.
            num_classes: Integer, number of classes.
            head: The early-exit head design: `"global_pool"` (default),
                `"sdn"` (mixed max/avg pooling + dense), `"conv"` (NACHOS,
                three 3x3 convs + dense, with the adaptive pooling rule), an
                `ExitHead` instance used as a template (cloned for each exit),
                or a callable `fn(exit_index, feature_shape) -> ExitHead`.
            confidence: Boolean, whether early heads also output a confidence
                for the cascade rule. Defaults to `False`.
            final_head: `None` (default: the backbone's output is the final
                exit if it has `num_classes` units; a backbone ending in a
                feature map gets a head of the same design), `True` (always put
                a head on the backbone's last features), or an `ExitHead`.
            name: Optional model name.

        Returns:
            An `EarlyExitModel`.

        Example:

        >>> inputs = keras.Input((28, 28, 1))
        >>> x = keras.layers.Conv2D(8, 3, name="block1")(inputs)
        >>> x = keras.layers.Conv2D(8, 3, name="block2")(x)
        >>> x = keras.layers.GlobalAveragePooling2D()(x)
        >>> outputs = keras.layers.Dense(10, activation="softmax")(x)
        >>> backbone = keras.Model(inputs, outputs)
        >>> model = EarlyExitModel.from_backbone(backbone, ["block1"], 10)
        >>> model.exit_names
        ['exit_1', 'final']
        """
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise invalid_type("num_classes", "an integer >= 2", num_classes)
        if num_classes < 2:
            raise invalid_value("num_classes", "an integer >= 2", num_classes)
        if isinstance(exit_points, str):
            exit_points = [exit_points]
        if not exit_points:
            raise invalid_value(
                "exit_points", "a non-empty list of layer names", exit_points
            )
        backbone = graph_cuts.as_functional(backbone)
        cuts = graph_cuts.find_cut_tensors(backbone, exit_points)
        output_shape = tuple(backbone.outputs[0].shape)
        final_softmax = False
        if final_head is None:
            if len(output_shape) > 2:
                final_head = True
            elif output_shape[-1] != num_classes or len(output_shape) != 2:
                raise invalid_value(
                    "num_classes",
                    f"the number of units of the backbone's output "
                    f"{output_shape} (or pass `final_head=True` to put a head "
                    "on the backbone's last features)",
                    num_classes,
                )
            else:
                final_softmax = not graph_cuts.ends_in_softmax(backbone)
        make_head = head_factory(head, num_classes)
        heads = [
            make_head(i, tuple(cut.shape), confidence, f"exit_{i + 1}_head")
            for i, cut in enumerate(cuts)
        ]
        if final_head is True:
            final_head = make_head(
                len(cuts), output_shape, False, "final_head"
            )
        elif final_head is not None and not isinstance(
            final_head, heads_module.ExitHead
        ):
            raise invalid_type(
                "final_head", "None, True or an ExitHead", final_head
            )
        if is_adaptive(head):
            heads = adapt_head_pooling(backbone, cuts, heads, final_head)
        return cls(
            backbone,
            exit_points,
            heads,
            final_head=final_head,
            final_softmax=final_softmax,
            name=name,
        )

    @property
    def num_exits(self):
        return len(self.exit_names)

    @property
    def trained_exits(self):
        """Whether each exit is trained by gradients (E2CM exits are not)."""
        return [
            not isinstance(h, heads_module.ClassMeansHead) for h in self.heads
        ] + [True]

    @property
    def has_confidence(self):
        return [
            bool(getattr(h, "confidence", False)) for h in self.heads
        ] + [False]

    # ------------------------------------------------------------------
    # Stages and MACs.
    # ------------------------------------------------------------------
    @property
    def stage_plan(self):
        """The `StagePlan`: how the model is cut into stages.

        Stage `i` runs from exit point `i - 1` (the input for the first) to
        exit point `i` (the backbone's output for the last) and exit `i`'s
        layer; the staged runner, the LiteRT export and quantisation-aware
        training all cut the model by it.
        """
        derived = self._derived
        if derived.stage_plan is None:
            derived.stage_plan = StagePlan(
                self.backbone.inputs[0],
                self._cut_tensors,
                self.backbone.outputs[0],
                self.exit_layers,
                self._exit_tensors,
            )
        return derived.stage_plan

    @property
    def stage_models(self):
        """The backbone cut at the exit points: one functional model per stage.

        Stage `i` runs from exit point `i - 1` (the input for the first) to
        exit point `i` (the backbone's output for the last) and shares the
        backbone's layers (`stage_plan.segments`).
        """
        return self.stage_plan.segments

    @property
    def exit_layers(self):
        """The layer after each stage: its head (`None` for a final exit that
        is the backbone's own output)."""
        return list(self.heads) + [self._final_layer]

    @property
    def exit_costs(self):
        """An `ExitCosts`: the MACs of leaving at each exit (counted once).

        `exit_macs`, `exit_macs_taken_head`, `backbone_macs`, `head_macs` and
        `expected_macs` all read it.
        """
        derived = self._derived
        if derived.exit_costs is None:
            derived.exit_costs = stage_costs(self.stage_models, self.exit_layers)
        return derived.exit_costs

    @property
    def device_costs(self):
        """A `DeviceCosts`: the estimated flash and RAM of the int8 stages.

        `device_costs.flash_bytes` (all stage files) and
        `device_costs.ram_bytes` (the largest TFLite Micro arena), estimated
        from the layers without converting (see
        `keras_nachos.costs.device_memory`); `export_early_exit(...,
        micro=True)` measures the real ones.
        """
        derived = self._derived
        if derived.device_costs is None:
            from keras_nachos.costs.device_memory import device_costs

            derived.device_costs = device_costs(self)
        return derived.device_costs

    @property
    def exit_macs(self):
        """Cumulative MACs to reach each exit, every earlier head included.

        `C_b = M^bb_b + sum_{j<=b} M^h_j`: a sample leaving at exit `b` has run
        the backbone up to `b` and every head on the way.
        """
        return self.exit_costs.cumulative

    @property
    def exit_macs_taken_head(self):
        """MACs to reach each exit counting only the taken head.

        `M^bb_b + M^h_b`: the convention of the NACHOS/EDANAS reference code,
        which leaves out the earlier heads a sample went through. Reported so
        numbers can be set beside theirs; `exit_macs` is the right cost.
        """
        return self.exit_costs.taken_head

    @property
    def backbone_macs(self):
        """MACs of the network without early exits (backbone + final exit)."""
        return self.exit_costs.backbone

    @property
    def head_macs(self):
        """MACs of each exit's head (the final exit's is 0 without a head)."""
        return list(self.exit_costs.head_macs)

    def expected_macs(self, exit_fractions, convention="cumulative"):
        """Expected MACs per sample for given exit fractions.

        Args:
            exit_fractions: Sequence of `num_exits` non-negative fractions that
                sum to 1 (the share of samples leaving at each exit).
            convention: `"cumulative"` (default, every head on the way is
                paid) or `"taken_head"` (the reference code's convention).

        Returns:
            Float, `sum_b pi_b * C_b`.
        """
        return self.exit_costs.expected(exit_fractions, convention)

    # ------------------------------------------------------------------
    # Serialization.
    # ------------------------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "exit_points": list(self.exit_points),
            "heads": [keras.saving.serialize_keras_object(h) for h in self.heads],
            "final_head": (
                None
                if self.final_head is None
                else keras.saving.serialize_keras_object(self.final_head)
            ),
            "final_softmax": self.final_softmax,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(
            config["backbone"]
        )
        config["heads"] = [
            keras.saving.deserialize_keras_object(h) for h in config["heads"]
        ]
        if config.get("final_head") is not None:
            config["final_head"] = keras.saving.deserialize_keras_object(
                config["final_head"]
            )
        return cls(**config)
