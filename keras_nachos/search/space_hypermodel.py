"""`SpaceHyperModel`: a `SearchSpace` as a Keras Tuner hypermodel."""

import keras_tuner as kt


class SpaceHyperModel(kt.HyperModel):
    """A Keras Tuner hypermodel that builds (repaired) candidates of a space.

    Lets any Keras Tuner tuner (e.g. `keras_tuner.RandomSearch`) search a
    `SearchSpace`.

    Args:
        space: A `SearchSpace`.
    """

    def __init__(self, space):
        super().__init__()
        self.space = space

    def build(self, hp):
        return self.space.build(self.space.repair(hp.values))
