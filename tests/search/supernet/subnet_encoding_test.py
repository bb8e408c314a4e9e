"""Tests of `keras_nachos.search.supernet.subnet_encoding`: candidates as
int32 vectors, the extreme subnets, sampling and refused values."""

import keras
import numpy as np

from keras_nachos.search.supernet import SubnetEncoding
from tests.search.supernet.testing_utils import elastic_space
from tests.testing_utils import assert_invalid


def test_a_candidate_is_its_stem_then_four_choices_per_stage():
    space = elastic_space()
    subnets = SubnetEncoding(space)
    assert len(subnets) == 1 + 4 * 3
    values = {"stem_filters": 4, "stage_1_depth": 2, "stage_1_width": 12,
              "stage_1_kernel": 5, "stage_1_expansion": 1,
              "stage_2_depth": 1, "stage_2_width": 8, "stage_2_kernel": 3,
              "stage_2_expansion": 2, "stage_3_depth": 1,
              "stage_3_width": 16, "stage_3_kernel": 3,
              "stage_3_expansion": 1}
    encoding = subnets.encode(values)
    assert encoding.dtype == np.int32
    assert encoding.tolist() == [4, 2, 12, 5, 1, 1, 8, 3, 2, 1, 16, 3, 1]
    assert subnets.largest().tolist() == [8] + [2, 12, 5, 2, 2, 16, 5, 2, 2, 16, 5, 2]
    assert subnets.smallest().tolist() == [4] + [1, 8, 3, 1, 1, 8, 3, 1, 1, 12, 3, 1]
    assert subnets.encode(subnets.extreme_values(max)).tolist() == (
        subnets.largest().tolist()
    )
    assert subnets.encode(subnets.extreme_values(min)).tolist() == (
        subnets.smallest().tolist()
    )
    # Unsearched choices (one width) take the space's only value.
    fixed = SubnetEncoding(elastic_space(stage_widths=[[8], [8, 16], [16]]))
    values.pop("stage_1_width")
    values["stage_3_width"] = 16
    assert fixed.encode(values).tolist()[2] == 8


def test_sampled_subnets_are_among_the_choices_and_seeded():
    subnets = SubnetEncoding(elastic_space())
    draws = [
        np.asarray(subnets.sample(keras.random.SeedGenerator(7))).tolist()
        for _ in range(2)
    ]
    assert draws[0] == draws[1]
    generator = keras.random.SeedGenerator(0)
    samples = np.array([
        np.asarray(subnets.sample(generator)) for _ in range(16)
    ])
    for column, choices in zip(samples.T, subnets.choices):
        assert set(column.tolist()) == set(choices)


def test_a_candidate_is_repaired_and_checked():
    space = elastic_space()
    subnets = SubnetEncoding(space)
    values = space.random_values(seed=0)
    values.update(exit_1=False, exit_2=False)
    assert subnets.candidate(values) == space.repair(values)
    assert_invalid("values", subnets.candidate, dict(values, stage_2_kernel=7))
