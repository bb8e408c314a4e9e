"""Tests of `keras_nachos.deploy.micro`: the stages on TFLite Micro."""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from keras_nachos import EarlyExitModel
from keras_nachos import deploy
from keras_nachos.deploy import micro
from tests.testing_utils import small_cnn
from tests.testing_utils import toy_data

pytest.importorskip("tflite_micro")


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    x, y = toy_data(192, seed=3)
    model = EarlyExitModel.from_backbone(small_cnn(seed=4), ["p1", "p2"], 4, head="sdn")
    model.compile("adam")
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    directory = tmp_path_factory.mktemp("micro_export")
    # Thresholds at the median confidence of each early exit (~half leave),
    # nudged off the int8 grid (1/256) so no decision sits on a tie.
    outputs = model.predict_exits(x, verbose=0)
    thresholds = [float(np.median(o.max(axis=1))) + 1 / 512 for o in outputs[:2]]
    manifest = model.export_early_exit(
        directory, thresholds, quantize="int8", representative_data=x[:64],
        micro=True,
    )
    return model, manifest, str(directory), x


def test_micro_outputs_equal_litert_builtin_kernels(export):
    _, _, directory, x = export
    on_micro = deploy.load(directory, interpreter="micro")
    builtin = deploy.load(directory, xnnpack=False)
    xnnpack = deploy.load(directory)
    differ = {"builtin": 0, "xnnpack": 0}
    total = 0
    for spec, a, b, c in zip(on_micro.manifest.stages, on_micro.run_stages(x),
                             builtin.run_stages(x), xnnpack.run_stages(x)):
        # At most one quantisation step apart (rounding in a few kernels).
        step = spec.exit.scale
        assert np.abs(a - b).max() <= step * 1.001
        assert np.abs(a - c).max() <= step * 1.001
        differ["builtin"] += int((a != b).sum())
        differ["xnnpack"] += int((a != c).sum())
        total += a.size
    # LiteRT's builtin kernels are TFLite Micro's arithmetic but for a
    # rounding in pooling: nearly every value is equal (measured: 1 of 2,304
    # here, 25-28 per exit with XNNPACK).
    assert differ["builtin"] <= 0.002 * total
    assert differ["builtin"] <= differ["xnnpack"]
    result = on_micro.predict_early_exit(x, batch_size=8)
    expected = builtin.predict_early_exit(x, batch_size=8)
    np.testing.assert_array_equal(result.exit_indices, expected.exit_indices)
    np.testing.assert_array_equal(result.predictions, expected.predictions)
    assert 0.1 < np.mean(result.exit_indices == 2) < 0.9


def _runs(path, arena):
    return micro._runs_with(path, arena)


def test_arena_is_the_smallest_that_runs(export):
    _, manifest, directory, _ = export
    for stage in manifest.stages:
        path = os.path.join(directory, stage.file)
        assert stage.arena_bytes % 16 == 0
        assert _runs(path, stage.arena_bytes)
        assert not _runs(path, stage.arena_bytes - 16)
        with open(path, "rb") as f:
            recorded = micro.recorded_arena_bytes(f.read())
        # The recording allocator's total leaves out kernels' temporary
        # buffers: it is a lower bound, within a kilobyte here.
        assert recorded - 16 <= stage.arena_bytes <= recorded + 1024
    assert manifest.peak_arena_bytes == max(s.arena_bytes for s in manifest.stages)
    assert manifest.flash_bytes == sum(
        os.path.getsize(os.path.join(directory, s.file)) for s in manifest.stages
    )
    # The manifest on disk holds them.
    reread = deploy.Manifest.read(directory)
    assert [s.arena_bytes for s in reread.stages] == [
        s.arena_bytes for s in manifest.stages]


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_c_headers_compile_to_the_stage_files(export, tmp_path):
    _, manifest, directory, _ = export
    for i, stage in enumerate(manifest.stages):
        header = os.path.join(directory, f"stage_{i + 1}.h")
        text = open(header).read()
        assert f"tensor arena {stage.arena_bytes:,} bytes" in text
        assert f"{manifest.exit_costs['cumulative'][i]:,} to this exit" in text
        program = tmp_path / f"dump_{i}.c"
        program.write_text(
            "#include <stdio.h>\n"
            f'#include "{header}"\n'
            "int main(void) {\n"
            f"  fwrite(stage_{i + 1}_tflite, 1, stage_{i + 1}_tflite_len, stdout);\n"
            f"  return ((unsigned long) stage_{i + 1}_tflite) % 16 != 0;\n"
            "}\n"
        )
        binary = tmp_path / f"dump_{i}"
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", str(program),
                        "-o", str(binary)], check=True)
        dumped = subprocess.run([str(binary)], capture_output=True, check=True)
        with open(os.path.join(directory, stage.file), "rb") as f:
            assert dumped.stdout == f.read()


def test_micro_export_needs_int_arguments_checked_first(export, tmp_path):
    model, _, _, x = export
    with pytest.raises(TypeError, match="`micro`"):
        model.export_early_exit(tmp_path / "a", [0.5, 0.5], micro="yes")
    with pytest.raises(ValueError, match="`interpreter`.*Received: interpreter='tflm'"):
        deploy.load(tmp_path, interpreter="tflm")
    assert not os.path.exists(tmp_path / "a")


def test_header_names_stage_tensors(export):
    _, manifest, directory, _ = export
    text = open(os.path.join(directory, "stage_1.h")).read()
    zero_point = manifest.stages[0].input.zero_point
    assert re.search(rf"input +image: int8 \[-1, 16, 16, 1\].*zero point {zero_point}", text)
    assert "features" in text
    assert f"threshold {manifest.thresholds[0]!r}" in text
