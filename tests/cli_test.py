"""Tests of keras_nachos_cli: search, report and export on digits."""

import json
import os
import subprocess
import sys

import keras
import pytest

import keras_nachos_cli


@pytest.mark.slow
def test_cli_search_report_export_on_digits(tmp_path, capsys):
    out = str(tmp_path / "run")
    keras_nachos_cli.main([
        "search", "--dataset", "digits", "--max-samples", "400",
        "--min-accuracy", "0.15", "--max-macs", "200000",
        "--population", "4", "--generations", "1", "--epochs", "4",
        "--batch-size", "64",
        "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1",
        "--kernel-sizes", "3", "--expansion-ratios", "2",
        "--head-types", "global_pool", "--out", out,
    ])
    printed = capsys.readouterr().out
    assert "[trial 4/4]" in printed and "Admissible Pareto front" in printed
    for name in ("results.json", "results.csv", "pareto.png", "search_config.json"):
        assert os.path.exists(os.path.join(out, name))
    results = json.load(open(os.path.join(out, "results.json")))
    front = results["admissible_front"]
    assert front and all(r["test_accuracy"] is not None for r in front)
    assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    assert "Admissible Pareto front" in capsys.readouterr().out
    assert keras_nachos_cli.main(["export", out, "--solution", "0"]) == 0
    model = keras.models.load_model(os.path.join(out, "solution_0.keras"))
    assert model.num_exits >= 2
    assert keras_nachos_cli.main(["export", out, "--solution", "99"]) == 2
    error = capsys.readouterr().err
    assert "argument `--solution`" in error and len(error.splitlines()) == 1


TINY = [
    "--dataset", "digits", "--max-samples", "400", "--min-accuracy", "0.15",
    "--max-macs", "200000", "--population", "4", "--generations", "1",
    "--epochs", "1", "--batch-size", "64",
    "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1",
    "--kernel-sizes", "3", "--expansion-ratios", "2",
    "--head-types", "global_pool", "--verbose", "0",
]


def run_cli(*argv):
    """Runs the command in a fresh interpreter; returns (code, out, err, modules)."""
    code = (
        "import json, sys, keras_nachos_cli\n"
        f"code = keras_nachos_cli.main({list(argv)!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'keras_nachos'))))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    lines = done.stdout.strip().splitlines()
    modules = json.loads(lines[-1]) if lines else None
    return done.returncode, "\n".join(lines[:-1]), done.stderr, modules


@pytest.mark.parametrize(
    "argv, argument",
    [
        (["--min-accuracy", "1.5"], "--min-accuracy"),
        (["--min-accuracy", "nan"], "--min-accuracy"),
        (["--max-macs", "-5"], "--max-macs"),
        (["--floor-confidence", "1.5"], "--floor-confidence"),
        (["--population", "6"], "--population"),
        (["--kernel-sizes", "3,4"], "--kernel-sizes"),
        (["--stage-widths", "[[8, 12]]"], "--stage-widths"),
        (["--head-types", "global_pool,fancy"], "--head-types"),
        (["--validation-split", "1.0"], "--validation-split"),
        (["--image-size", "16"], "--image-size"),
    ],
)
def test_bad_search_arguments_are_one_line_and_write_nothing(
    tmp_path, capsys, argv, argument
):
    # Before: search_config.json was written first, then a traceback; every
    # corrected command then "resumed" with the bad value.
    out = tmp_path / "run"
    options = {"--min-accuracy": "0.5", "--max-macs": "1e5"}
    options.update(dict(zip(argv[::2], argv[1::2])))
    command = ["search", "--out", str(out)]
    for flag, value in options.items():
        command += [flag, value]
    assert keras_nachos_cli.main(command) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"argument `{argument}`" in err and "Traceback" not in err
    assert not out.exists()


def test_argument_errors_come_before_tensorflow_starts(tmp_path):
    code, _, err, modules = run_cli(
        "search", "--out", str(tmp_path / "run"), "--min-accuracy", "2",
        "--max-macs", "1e5",
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert modules == [], modules  # no tensorflow, keras, keras_nachos
    code, _, err, _ = run_cli("search", "--out", str(tmp_path), "--depths", "x")
    assert code == 2 and "argument --depths" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err, _ = run_cli("report", str(tmp_path / "nothing"))
    assert code == 2 and "argument `dir`" in err


def test_a_new_search_needs_both_constraints(tmp_path, capsys):
    assert keras_nachos_cli.main(
        ["search", "--out", str(tmp_path / "run"), "--max-macs", "1e5"]) == 2
    assert "--min-accuracy is required for a new search" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_refuses_other_arguments_and_report_says_unfinished(
    tmp_path, capsys, monkeypatch
):
    from keras_nachos.search.candidate_evaluator import CandidateEvaluator

    out = str(tmp_path / "run")
    original = CandidateEvaluator.__call__
    calls = []

    def killed_at_the_second(self, values, callbacks=None):
        calls.append(values)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, values, callbacks)

    monkeypatch.setattr(CandidateEvaluator, "__call__", killed_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        keras_nachos_cli.main(["search", "--out", out, *TINY])
    stored = json.load(open(os.path.join(out, "search_config.json")))
    assert stored["epochs"] == 1
    capsys.readouterr()

    # Before: the report of an unfinished search looked like a finished one.
    assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    printed = capsys.readouterr().out
    assert "is unfinished" in printed and "holds 2 trials" in printed

    # Before: a resume with other arguments silently used the stored ones.
    assert keras_nachos_cli.main(
        ["search", "--out", out, "--epochs", "3", "--max-macs", "200000"]) == 2
    err = capsys.readouterr().err
    assert "--epochs 3 (stored: 1)" in err and "--max-macs" not in err
    assert len(err.strip().splitlines()) == 1
    assert json.load(open(os.path.join(out, "search_config.json"))) == stored

    monkeypatch.setattr(CandidateEvaluator, "__call__", original)
    assert keras_nachos_cli.main(["search", "--out", out, "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    assert "Resuming the search" in printed and "Admissible Pareto front" in printed
    assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    assert "unfinished" not in capsys.readouterr().out

    # --overwrite starts over with the new arguments (killed at once here:
    # the new configuration is what was written).
    calls.clear()
    monkeypatch.setattr(CandidateEvaluator, "__call__", killed_at_the_second)
    calls.append(None)  # the next call is the second
    with pytest.raises(KeyboardInterrupt):
        keras_nachos_cli.main(
            ["search", "--out", out, "--overwrite", *TINY, "--epochs", "2"])
    assert json.load(open(os.path.join(out, "search_config.json")))["epochs"] == 2
    assert not os.path.exists(os.path.join(out, "results.json"))


def test_a_damaged_state_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    (out / "search").mkdir(parents=True)
    (out / "search_config.json").write_text('{"dataset": "digits", "see')
    assert keras_nachos_cli.main(["search", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "search_config.json is damaged" in err
    assert len(err.strip().splitlines()) == 1
@pytest.mark.slow
def test_demo_runs_the_pipeline_end_to_end(tmp_path, capsys, monkeypatch):
    tiny = dict(zip([a.lstrip("-").replace("-", "_") for a in TINY[::2]],
                    TINY[1::2]))
    preset = {
        "dataset": "digits", "max_samples": 400, "min_accuracy": 0.15,
        "max_macs": 200000.0, "population": 4, "generations": 1, "epochs": 1,
        "batch_size": 64, "stage_widths": [[4, 8], [8], [8, 12]],
        "depths": [1], "kernel_sizes": [3], "expansion_ratios": [2],
        "head_types": ["global_pool"],
    }
    assert set(preset) <= set(tiny) | {"seed"}
    monkeypatch.setitem(keras_nachos_cli.PRESETS, "digits", preset)
    out = tmp_path / "demo"
    assert keras_nachos_cli.main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "[trial 4/4]" in printed and "Admissible Pareto front" in printed
    assert "exported to" in printed and "real early exit" in printed
    for line in ("accuracy", "exit fractions", "expected MACs"):
        assert f"  {line}" in printed
    for name in ("pareto.png", "results.json", "solution_0.keras",
                 "solution_0.json", "solution_0_litert_int8/manifest.json"):
        assert (out / name).exists(), name
    # It ends on the device: the int8 LiteRT stages, run with the early exit.
    device = printed.split("For the device:")[1]
    assert "3 int8 LiteRT stages" in device or "2 int8 LiteRT stages" in device
    assert "(int8, litert, batch 1)" in device and "ms per sample" in device
    keras_accuracy = float(printed.split("  accuracy")[1].split()[0])
    int8_accuracy = float(device.split("  accuracy")[1].split()[0])
    assert abs(keras_accuracy - int8_accuracy) <= 0.05
    # Run again: the search resumes (nothing is retrained) and the same
    # solution is exported.
    assert keras_nachos_cli.main(["demo", "--out", str(out)]) == 0
    assert "Resuming the search" in capsys.readouterr().out


def test_device_budget_flags(tmp_path):
    out = str(tmp_path / "s")
    command, options = keras_nachos_cli.parse(
        ["search", "--out", out, "--min-accuracy", "0.5", "--max-macs", "1e5",
         "--max-ram-bytes", "32768"])
    assert options["config"]["max_ram_bytes"] == 32768.0
    assert options["config"]["max_flash_bytes"] is None
    assert options["config"]["floor_confidence"] is None
    _, options = keras_nachos_cli.parse(
        ["search", "--out", out, "--min-accuracy", "0.5", "--max-macs", "1e5",
         "--floor-confidence", "0.9"])
    assert options["config"]["floor_confidence"] == 0.9
    with pytest.raises(keras_nachos_cli.UsageError,
                       match="argument `--max-flash-bytes`.*Received: --max-flash-bytes=-1"):
        keras_nachos_cli.parse(
            ["search", "--out", out, "--min-accuracy", "0.5", "--max-macs",
             "1e5", "--max-flash-bytes", "-1"])
    assert not os.path.exists(out)


@pytest.mark.parametrize(
    "argv, argument",
    [
        (["--workers", "0"], "--workers"),
        (["--workers", "2", "--role", "chief", "--oracle", "h:1"], "--workers"),
        (["--role", "worker", "--tuner-id", "tuner0"], "--oracle"),
        (["--role", "worker", "--oracle", "localhost"], "--oracle"),
        (["--role", "worker", "--oracle", "h:70000", "--tuner-id", "t0"], "--oracle"),
        (["--role", "worker", "--oracle", "h:8000"], "--tuner-id"),
        (["--role", "worker", "--oracle", "h:8000", "--tuner-id", "chief1"], "--tuner-id"),
        (["--role", "chief", "--oracle", "h:8000", "--tuner-id", "boss"], "--tuner-id"),
        (["--role", "worker", "--oracle", "h:8000", "--tuner-id", "tuner0",
          "--overwrite"], "--overwrite"),
        (["--oracle", "h:8000"], "--role"),
        (["--trial-timeout", "0"], "--trial-timeout"),
        (["--threads", "0"], "--threads"),
        (["--cores", "4096"], "--cores"),
    ],
)
def test_bad_distributed_arguments_are_one_line(tmp_path, capsys, monkeypatch,
                                                argv, argument):
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(key, raising=False)
    out = tmp_path / "run"
    command = ["search", "--out", str(out), "--min-accuracy", "0.5",
               "--max-macs", "1e5"] + argv
    assert keras_nachos_cli.main(command) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"argument `{argument}`" in err, err
    assert not out.exists()


def test_keras_tuner_variables_give_the_role(monkeypatch):
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner3")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "10.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    args = keras_nachos_cli.build_parser().parse_args(
        ["search", "--out", "x", "--trial-timeout", "30"])
    cluster = keras_nachos_cli.check_cluster_arguments(args)
    assert (cluster["role"], cluster["tuner_id"], cluster["host"], cluster["port"],
            cluster["trial_timeout"]) == ("worker", "tuner3", "10.0.0.1", 8000, 30.0)
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    cluster = keras_nachos_cli.check_cluster_arguments(args)
    assert (cluster["role"], cluster["tuner_id"]) == ("chief", "chief")


def test_local_workers_share_the_cores_or_the_gpus(monkeypatch):
    from keras_nachos import commands

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert commands.worker_devices(3) == [
        ({"CUDA_VISIBLE_DEVICES": "3"}, None), ({"CUDA_VISIBLE_DEVICES": "5"}, None),
        ({"CUDA_VISIBLE_DEVICES": "3"}, None)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    cores = sorted(os.sched_getaffinity(0))
    devices = commands.worker_devices(len(cores))
    assert [c for _, c in devices] == [[c] for c in cores]
    assert all(env == {"CUDA_VISIBLE_DEVICES": "-1"} for env, _ in devices)
    assert [c for _, c in commands.worker_devices(1)] == [cores]


@pytest.mark.slow
def test_search_with_local_workers_matches_one_process(tmp_path):
    # The same tiny search in one process and with `--workers 2`; a finished
    # distributed search reports with the default tuner id.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    # Each of the 2 local workers gets half the cores and as many TensorFlow
    # threads; float sums depend on the thread count, so the single process
    # runs on as many threads.
    cores = sorted(os.sched_getaffinity(0))
    share = cores[: max(1, len(cores) // 2)]
    workers = "2"
    fronts = []
    for name, extra in (("single", ["--threads", str(len(share)), "--cores",
                                    ",".join(str(c) for c in share)]),
                        ("workers", ["--workers", workers])):
        out = str(tmp_path / name)
        done = subprocess.run(
            [sys.executable, "-m", "keras_nachos_cli", "search", "--out", out,
             "--dataset", "digits", "--max-samples", "400",
             "--min-accuracy", "0.1", "--max-macs", "200000",
             "--population", "4", "--generations", "2", "--preselect", "1",
             "--epochs", "3", "--batch-size", "64",
             "--stage-widths", "[[4, 8], [8], [8, 12]]", "--depths", "1",
             "--kernel-sizes", "3,5", "--expansion-ratios", "2",
             "--head-types", "global_pool"] + extra,
            capture_output=True, text=True, env=env, timeout=600,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.load(open(os.path.join(out, "results.json")))
        fronts.append([(r["values"], r["accuracy"], r["expected_macs"],
                        r["thresholds"]) for r in results["admissible_front"]])
        if name == "workers":
            assert "[tuner0] trial" in done.stdout and "[tuner1] trial" in done.stdout
            assert not os.path.exists(os.path.join(out, "search", "chief.json"))
            assert keras_nachos_cli.main(["report", out, "--no-test"]) == 0
    assert fronts[0] and fronts[0] == fronts[1]
