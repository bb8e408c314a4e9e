"""Tests of `keras_nachos.search.supernet.extraction`: extracted candidates
equal the supernet's masked subnet path, cost the candidate's exact MACs and
are filled in place; weights are sliced to their first entries or centre."""

import numpy as np

from keras_nachos.search.supernet.extraction import inherit
from tests.search.supernet.testing_utils import candidates


def test_extracted_models_equal_the_subnet_path_and_cost_the_candidates_macs(
    trained,
):
    space, supernet, x, _, _ = trained
    seen = set()
    for values in candidates(space, supernet):
        model = supernet.extract(values, x=x)
        expected = model.predict_exits(x, batch_size=64)
        got = supernet.predict_subnet(values, x, batch_size=40)
        assert len(got) == len(expected) == model.num_exits
        for a, b in zip(got, expected):
            np.testing.assert_allclose(a, b, atol=2e-5)
        assert model.exit_macs == space.build(values).exit_macs
        seen.update(supernet.subnet_head_keys(values))
        # Not a constant network: the exits tell the images apart.
        assert np.std(expected[-1]) > 1e-3
    # One shared head per design (sdn has no width), all of them checked.
    assert seen == set(supernet.heads)
    assert len(supernet.heads) == 2 * 5


def test_a_model_built_already_is_filled_in_place(trained):
    space, supernet, x, _, _ = trained
    values = candidates(space, supernet)[1]
    built = space.build(values)
    model = supernet.extract(values, x=x, model=built)
    assert model is built
    expected = supernet.predict_subnet(values, x, batch_size=64)
    for a, b in zip(model.predict_exits(x, batch_size=64), expected):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_subnets_differ_and_depth_skips_blocks(trained):
    space, supernet, x, _, _ = trained
    largest = supernet.largest_values()
    shallow = dict(largest, stage_3_depth=1)
    supernet.reestimate_batch_norm(largest, x)
    a = supernet.predict_subnet(largest, x)[-1]
    supernet.reestimate_batch_norm(shallow, x)
    b = supernet.predict_subnet(shallow, x)[-1]
    assert np.abs(a - b).max() > 1e-3
    model = supernet.extract(shallow)
    assert "stage3_block2_project" not in [l.name for l in model.backbone.layers]
    np.testing.assert_allclose(model.predict_exits(x)[-1], b, atol=2e-5)


def test_weights_keep_their_first_entries_or_their_centre():
    kernel = np.arange(5 * 5 * 3 * 2, dtype="float32").reshape(5, 5, 3, 2)
    np.testing.assert_array_equal(
        inherit(kernel, (3, 3, 2, 1)), kernel[:3, :3, :2, :1]
    )
    np.testing.assert_array_equal(
        inherit(kernel, (3, 3, 2, 1), centre=True), kernel[1:4, 1:4, :2, :1]
    )
    np.testing.assert_array_equal(
        inherit(kernel, (1, 1, 3, 2), centre=True), kernel[2:3, 2:3]
    )
    assert inherit(np.ones(4), (4,)).tolist() == [1.0] * 4
