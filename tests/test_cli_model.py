"""`inspector eval` and `inspector classify` print the promised JSON and fail clearly."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from inspector.cli import app

runner = CliRunner()


def test_eval_json_fields(tiny_bundle, synthetic_dataset):
    result = runner.invoke(app, ["eval", str(tiny_bundle), str(synthetic_dataset), "--split", "test",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("n", "accuracy", "macro_f1", "defect_recall", "false_reject_rate", "auroc", "per_class"):
        assert key in data
    assert data["n"] == 6  # 15% of 12 per class, 3 classes
    assert set(data["per_class"]) == {"blob", "free", "scratch"}
    by_truth = data["verdicts_by_truth"]  # every part counted once, under its true side
    assert sum(sum(v.values()) for v in by_truth.values()) == data["n"]
    assert sum(by_truth["good"].values()) == data["n_good"]
    text = runner.invoke(app, ["eval", str(tiny_bundle), str(synthetic_dataset), "--split", "test"])
    assert text.exit_code == 0 and f"verdicts_by_truth: {json.dumps(by_truth)}" in text.stdout


def test_eval_on_unknown_classes_is_an_error(tiny_bundle, sample_dataset):
    result = runner.invoke(app, ["eval", str(tiny_bundle), str(sample_dataset), "--json"])
    assert result.exit_code == 2
    assert "classes the model does not know" in result.output


def test_classify_json_lines_and_bad_image(tiny_bundle, synthetic_dataset, tmp_path):
    good = sorted((synthetic_dataset / "images" / "free").glob("*.png"))[:2]
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    result = runner.invoke(app, ["classify", str(tiny_bundle), *map(str, good), str(bad), "--json"])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.strip().splitlines()]
    judged = [line for line in lines if line["status"] == "ok"]
    assert [line["image"] for line in judged] == [str(p) for p in good]
    assert {"label", "verdict", "scores", "defect_score"} <= set(judged[0])
    [refused] = [line for line in lines if line["status"] == "bad_image"]
    assert refused["image"] == str(bad) and refused["verdict"] == "REVIEW" and refused["error"]


def test_bad_bundle_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["classify", str(tmp_path), "x.png"])
    assert result.exit_code == 2
    assert "card.json is missing" in result.output


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "inspector.cli", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "classify" in out.stdout


def test_train_command_writes_a_bundle_and_records_itself(synthetic_dataset, tmp_path):
    from inspector.model.card import ModelCard
    from tests.conftest import TINY_ARGS

    out = tmp_path / "bundle"
    cmd = [sys.executable, "-m", "inspector.cli", "train", str(synthetic_dataset), "--out", str(out),
           *TINY_ARGS]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["bundle"] == str(out) and summary["recipe"] == "mask-supervised"
    assert ModelCard.load(out).command.startswith(f"inspector train {synthetic_dataset} --out")
    bad = subprocess.run([*cmd[:4], str(tmp_path / "missing"), "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_stopping_the_train_command_stops_the_training(synthetic_dataset, tmp_path):
    """`kill` on `inspector train` (a service manager's stop) must not orphan the training process."""
    import contextlib
    import signal
    import time

    import psutil

    from tests.conftest import TINY_ARGS

    out = tmp_path / "bundle"
    long_run = [*TINY_ARGS, "--crop-epochs", "100000"]  # later options win: it would run for hours
    parent = subprocess.Popen([sys.executable, "-m", "inspector.cli", "train", str(synthetic_dataset),
                               "--out", str(out), *long_run],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    children: list[psutil.Process] = []
    while time.monotonic() < deadline and not children:  # wait until the training has started
        children = [c for c in psutil.Process(parent.pid).children()
                    if "training.train" in " ".join(c.cmdline())]
        time.sleep(0.2)
    try:
        assert children, "the training process never started"
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) != 0
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"training still running after the command was stopped: {alive}"
        assert not (out / "card.json").exists()
    finally:  # a failing run must not leave a training behind on the test machine
        for proc in [parent, *children]:
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                proc.kill()
