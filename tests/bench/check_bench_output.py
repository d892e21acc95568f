"""Runs atman_bench with the given arguments and checks its last output line.

Usage: check_bench_output.py [--expect_model=LABEL ...] -- BENCH_BINARY ARGS...
Fails when the benchmark exits non-zero, when its last stdout line is not a
JSON object, when an expected model is missing, or when a run's figures are
invalid. Speed-ups on and off must give the same scores (within 1e-3),
because they are exact.
"""

import json
import subprocess
import sys


def check_run(label, run):
    where = f"model {label}, {run['prompt_tokens']} prompt tokens"
    assert run["forward_passes"] == run["prompt_tokens"] + 1, (
        f"{where}: {run['forward_passes']} forward passes, expected one per prompt id plus "
        "the baseline")
    for mode in ("on", "off"):
        figures = run[mode]
        assert figures["seconds"] > 0, f"{where}: {mode} seconds is {figures['seconds']}"
        assert figures["tokens_per_s"] > 0, f"{where}: {mode} tokens_per_s is not positive"
        assert figures["peak_rss_bytes"] > 0, f"{where}: {mode} peak_rss_bytes is missing"
    assert run["speedup"] > 0, f"{where}: speedup is {run['speedup']}"
    assert run["max_score_difference"] < 1e-3, (
        f"{where}: scores with speed-ups on and off differ by {run['max_score_difference']}")


def main(argv):
    separator = argv.index("--")
    expected = [a.split("=", 1)[1] for a in argv[1:separator] if a.startswith("--expect_model=")]
    command = argv[separator + 1:]

    completed = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    assert completed.returncode == 0, f"{command[0]} exited with {completed.returncode}"
    lines = completed.stdout.strip().splitlines()
    assert lines, "the benchmark printed nothing to stdout"
    report = json.loads(lines[-1])
    assert isinstance(report, dict), "the last output line is not a JSON object"

    labels = [model["label"] for model in report["models"]]
    for label in expected:
        assert label in labels, f"model {label} is missing from the report; found {labels}"
    for model in report["models"]:
        assert model["runs"], f"model {model['label']} has no runs"
        for run in model["runs"]:
            check_run(model["label"], run)
    if "random" in labels:
        assert "speedup_met" in report["targets"], "the report has no targets for the random model"
    print(f"checked {len(labels)} model(s): {', '.join(labels)}")


if __name__ == "__main__":
    main(sys.argv)
