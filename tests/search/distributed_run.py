"""One process of a distributed (or single-process) test search.

`python -m tests.search.distributed_run DIRECTORY [--seed N] [--overwrite]
[--trial-timeout S] [--slow-trial S] [--result FILE]` runs the tiny search of
`nachos_search_test` in this process, as a chief, a worker or a single
process depending on Keras Tuner's environment variables, and, in the chief
or a single process, writes the admissible front and the candidates of each
generation to `--result`. `--slow-trial` sleeps that long in each trial
(to kill a worker in the middle of one).
"""

import argparse
import json
import os
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--trial-timeout", type=float, default=None)
    parser.add_argument("--slow-trial", type=float, default=0.0)
    parser.add_argument("--result", default=None)
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument("--generations", type=int, default=2)
    args = parser.parse_args()

    from keras_nachos.search import NachosSearch
    from tests.search.nachos_search_test import MAX_MACS
    from tests.search.nachos_search_test import MIN_ACCURACY
    from tests.search.nachos_search_test import data
    from tests.search.nachos_search_test import tiny_space

    class Tuner(NachosSearch):
        def run_trial(self, trial, *a, **k):
            if args.slow_trial:
                marker = os.path.join(args.directory, f"running_{self.tuner_id}")
                with open(marker, "w") as f:
                    f.write(trial.trial_id)
                time.sleep(args.slow_trial)
            return super().run_trial(trial, *a, **k)

    tuner = Tuner(
        tiny_space(), MIN_ACCURACY, MAX_MACS, population_size=args.population,
        generations=args.generations, seed=args.seed, preselect=1,
        evaluator_options={"learning_rate": 1e-2},
        trial_timeout=args.trial_timeout,
        directory=args.directory, project_name="search",
        overwrite=args.overwrite,
    )
    (x, y), (xv, yv) = data()
    tuner.search(x, y, validation_data=(xv, yv), epochs=2, batch_size=32,
                 verbose=1)
    if args.result and tuner.role != "worker":
        front = [
            {k: s[k] for k in ("values", "accuracy", "expected_macs",
                               "thresholds", "exit_fractions",
                               "exit_accuracies", "static_macs", "tuner_id")
             if k in s}
            for s in tuner.admissible_front()
        ]
        generations = {}
        for entry in tuner.all_candidates():
            generations.setdefault(str(entry["generation"]), []).append(
                json.dumps(entry["values"], sort_keys=True))
        with open(args.result, "w") as f:
            json.dump({
                "front": front,
                "generations": {g: sorted(v) for g, v in generations.items()},
                "hypervolume_history": tuner.hypervolume_history,
                "statuses": sorted(e["status"] for e in tuner.all_candidates()),
            }, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
