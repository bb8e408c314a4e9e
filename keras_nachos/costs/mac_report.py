"""The per-layer MAC report of one forward pass."""

import collections
import dataclasses


@dataclasses.dataclass
class MacReport:
    """MACs of one forward pass of one sample, layer by layer.

    Attributes:
        total: Integer, the MACs of the whole model (sum of `per_layer`).
        per_layer: Ordered dict from layer path (`"block1/conv"` inside a
            nested model `block1`) to the layer's MACs, in graph order. A
            layer called several times holds the sum over its calls. Extras
            are listed with 0.
        extras: List of the paths that cost 0 MACs by convention (batch norm,
            activations, pooling, merging, reshaping, dropout, preprocessing
            and elementwise `keras.ops`).
        fallback: List of the paths that no table entry knows, counted by the
            profiler on their own.
        classes: Dict from layer path to the layer's class name.
        calls: Dict from layer path to how many times the graph calls it.
    """

    total: int = 0
    per_layer: collections.OrderedDict = dataclasses.field(
        default_factory=collections.OrderedDict
    )
    extras: list = dataclasses.field(default_factory=list)
    fallback: list = dataclasses.field(default_factory=list)
    classes: dict = dataclasses.field(default_factory=dict, repr=False)
    calls: dict = dataclasses.field(default_factory=dict, repr=False)

    def _add(self, path, layer, macs, kind=None):
        macs = int(macs)
        self.per_layer[path] = self.per_layer.get(path, 0) + macs
        self.calls[path] = self.calls.get(path, 0) + 1
        self.classes[path] = type(layer).__name__
        self.total += macs
        if kind == "extra" and path not in self.extras:
            self.extras.append(path)
        if kind == "fallback" and path not in self.fallback:
            self.fallback.append(path)

    def summary(self):
        """Returns the report as a text table, one row per layer path."""
        rows = []
        for path, macs in self.per_layer.items():
            note = []
            if path in self.extras:
                note.append("extra")
            if path in self.fallback:
                note.append("profiler fallback")
            if self.calls.get(path, 1) > 1:
                note.append(f"{self.calls[path]} calls")
            cells = (path, self.classes.get(path, ""), f"{macs:,}", ", ".join(note))
            rows.append(cells)
        header = ("Layer", "Class", "MACs", "Note")
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(4)]

        def line(cells):
            return "  ".join(
                c.rjust(w) if i == 2 else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths))
            ).rstrip()

        rule = "-" * len(line(tuple("-" * w for w in widths)))
        out = ["MACs of one forward pass, batch 1", rule, line(header), rule]
        out += [line(r) for r in rows]
        out += [
            rule,
            f"Total MACs: {self.total:,}",
            f"Extras (0 MACs): {len(self.extras)}   "
            f"Profiler fallback: {len(self.fallback)}",
        ]
        return "\n".join(out)

    def __str__(self):
        return self.summary()
