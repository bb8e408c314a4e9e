"""Subnets of a supernet as int32 vectors, so one traced function serves all."""

import keras
import numpy as np
from keras import ops



class SubnetEncoding:
    """The backbone choices of a space's subnets as int32 vectors.

    A subnet's encoding is `[stem, (depth, width, kernel, expansion) per
    stage]`: a tensor the supernet's traced functions take as an argument.

    Args:
        space: The `SearchSpace`.

    Attributes:
        choices: List of the choices of each entry of an encoding.
    """

    def __init__(self, space):
        self.space = space
        self.choices = [list(space.stem_filters)]
        for s in range(space.num_stages):
            self.choices += [
                list(space.depths), list(space.stage_widths[s]),
                list(space.kernel_sizes), list(space.expansion_ratios),
            ]

    def __len__(self):
        return len(self.choices)

    def encode(self, values):
        """The encoding of a candidate (dict of search-space values)."""
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

    def largest(self):
        return np.asarray([max(c) for c in self.choices], "int32")

    def smallest(self):
        return np.asarray([min(c) for c in self.choices], "int32")

    def extreme_values(self, pick):
        """The candidate values whose every backbone choice is `pick`
        (`max` or `min`) of its choices; the exits as in the space's
        `random_values(seed=0)`."""
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

    def sample(self, seed_generator):
        """A random encoding, drawn in the graph from `seed_generator`."""
        parts = []
        for choices in self.choices:
            index = keras.random.randint(
                (), 0, len(choices), seed=seed_generator
            )
            parts.append(ops.take(ops.convert_to_tensor(choices, "int32"), index))
        return ops.stack(parts)

    def candidate(self, values):
        """`values` checked (`SearchSpace.check_values`: known keys, values
        among the space's choices, of their types) and repaired."""
        return self.space.repair(self.space.check_values(values))
