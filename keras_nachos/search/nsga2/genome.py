"""The genome of a search space: one gene in [0, 1) per hyperparameter.

Genome: one gene per non-`Fixed` hyperparameter of the space (all of them,
active or not, in the space's order, so every genome has the same length),
mapped to values by each hyperparameter's own bijection `prob_to_value` /
`value_to_prob`. Genes of inactive hyperparameters are carried along
untouched.
"""

from keras_tuner.engine import hyperparameters as hp_module

# Genes live in [LOW, UP]: `prob_to_value` expects a probability below 1.
LOW = 0.0
UP = 1.0 - 1e-9


def clip(genome):
    """The genes as floats inside [LOW, UP]."""
    return [min(UP, max(LOW, float(g))) for g in genome]


class GenomeCodec:
    """Decodes genomes to hyperparameter values and re-encodes repairs.

    Args:
        gene_positions: Positions in `hyperparameters.space` of the
            hyperparameters that are genes (fixed when the search starts,
            see `GenomeCodec.for_space`).
    """

    def __init__(self, gene_positions):
        self.gene_positions = list(gene_positions)

    @classmethod
    def for_space(cls, hyperparameters):
        """A codec with a gene for every non-`Fixed` hyperparameter."""
        return cls(
            i
            for i, hp in enumerate(hyperparameters.space)
            if not isinstance(hp, hp_module.Fixed)
        )

    def __len__(self):
        return len(self.gene_positions)

    def gene_names(self, hyperparameters):
        return [hyperparameters.space[i].name for i in self.gene_positions]

    def decode(self, hyperparameters, genome, overrides=None):
        """Returns `(values, active gene indices)` of a genome.

        `overrides` (repaired values) win over the genes.
        """
        hps = hyperparameters.copy()
        hps.values = {}
        gene_of = {pos: j for j, pos in enumerate(self.gene_positions)}
        active_genes = []
        for pos, hp in enumerate(hps.space):
            if not hps.is_active(hp):
                continue
            if overrides is not None and hp.name in overrides:
                value = overrides[hp.name]
            elif pos in gene_of:
                value = hp.prob_to_value(genome[gene_of[pos]])
            else:  # `Fixed`, or a hyperparameter that appeared later.
                value = hp.default
            hps.values[hp.name] = value
            if pos in gene_of:
                active_genes.append(gene_of[pos])
        return dict(hps.values), active_genes

    def decode_repaired(self, hyperparameters, genome, repair=None):
        """Decodes a genome, repairs its values and re-encodes the repair.

        Args:
            hyperparameters: The search's `HyperParameters`.
            genome: List of genes.
            repair: Optional callable `values -> values` (deterministic).

        Returns:
            `(genome, values)`: the clipped genome whose active genes decode
            to the repaired values, and those values.
        """
        genome = clip(genome)
        values, active_genes = self.decode(hyperparameters, genome)
        if repair is not None:
            repaired = repair(dict(values))
            values, active_genes = self.decode(
                hyperparameters, genome, overrides=repaired
            )
            space = hyperparameters.space
            for j in active_genes:
                hp = space[self.gene_positions[j]]
                if hp.prob_to_value(genome[j]) != values[hp.name]:
                    genome[j] = clip([hp.value_to_prob(values[hp.name])])[0]
        return genome, values

    def features(self, scratch, values):
        """A numeric vector of a candidate's values (0.5 for inactive genes).

        What the pre-selection's surrogates regress on. `scratch` is a copy of
        the search's `HyperParameters` whose values are overwritten (one copy
        serves many candidates: copying the space costs more than this).
        """
        hps = scratch
        hps.values = dict(values)
        features = []
        for pos in self.gene_positions:
            hp = hps.space[pos]
            if hp.name in values and hps.is_active(hp):
                features.append(float(hp.value_to_prob(values[hp.name])))
            else:
                features.append(0.5)
        return features
