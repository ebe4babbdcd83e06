"""The weight average: its arithmetic, what it leaves alone, and a training run that ships it."""

import pytest

torch = pytest.importorskip("torch")

from inspector.model.loader import load_classifier  # noqa: E402
from tests.conftest import TINY_ARGS  # noqa: E402
from training.ema import WeightAverage  # noqa: E402
from training.train import get_args_parser, main  # noqa: E402


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def test_average_trails_the_trained_weights_by_the_decay():
    net = _net()
    ema = WeightAverage(net, decay=0.5)
    start = net[0].weight.detach().clone()
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update()  # first update: decay min(0.5, 1/10) = 0.1, so 90% of the step is taken
    assert torch.allclose(ema.module[0].weight, start + 0.9)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update()  # second: min(0.5, 2/11) = 0.1818...
    expected = (start + 0.9) + (1 - 2 / 11) * ((start + 2.0) - (start + 0.9))
    assert torch.allclose(ema.module[0].weight, expected)
    assert torch.allclose(net[0].weight, start + 2.0)  # the trained weights are never touched


def test_long_run_decay_and_buffers():
    net = _net()
    ema = WeightAverage(net, decay=0.9)
    for _ in range(200):
        ema.update()
    assert ema.decay_now() == pytest.approx(0.9)
    net.train()
    net(torch.randn(8, 3) + 5.0)  # BatchNorm statistics move, and its batch counter counts
    ema.update()
    assert torch.allclose(ema.module[1].running_mean, 0.9 * 0.0 + 0.1 * net[1].running_mean)
    assert int(ema.module[1].num_batches_tracked) == int(net[1].num_batches_tracked) == 1
    assert not any(p.requires_grad for p in ema.module.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1])
def test_decay_outside_the_open_interval_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(_net(), decay)


def test_training_with_the_average_ships_the_average(tmp_path, synthetic_dataset, monkeypatch):
    import training.train as train_module

    made = []

    class Recorded(WeightAverage):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            made.append(self)

    monkeypatch.setattr(train_module, "WeightAverage", Recorded)
    args = [str(synthetic_dataset), "--out", str(tmp_path / "avg"), *TINY_ARGS, "--seed", "1",
            "--ema-decay", "0.9"]
    report = main(get_args_parser().parse_args(args))
    assert report["args"]["ema_decay"] == 0.9 and len(made) == 1 and made[0].updates > 0
    shipped = torch.load(tmp_path / "avg" / "model.pt", weights_only=True)
    averaged = made[0].module.state_dict()
    assert set(shipped) == set(averaged)
    assert all(torch.equal(shipped[k], averaged[k].cpu()) for k in shipped)
    clf = load_classifier(tmp_path / "avg")
    assert clf.card.thresholds.review <= clf.card.thresholds.ng


@pytest.mark.parametrize("flags", [["--ema-decay", "1.0"], ["--ema-decay", "-0.5"], ["--bank-pool", "0"]])
def test_bad_training_options_are_refused_before_training(tmp_path, flags, capfd):
    from typer.testing import CliRunner

    from inspector.cli import app

    result = CliRunner().invoke(app, ["train", str(tmp_path / "missing"), "--out", str(tmp_path / "b"),
                                      *flags])
    err = capfd.readouterr().err  # `inspector train` runs training in a child process
    assert result.exit_code == 2
    assert f"error: {flags[0]} must" in err and "Traceback" not in err
