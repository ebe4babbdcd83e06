"""Averaged networks (--ensemble) and bfloat16 training (--precision): one graph, seeds, checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from inspector.errors import ConfigError, ModelError  # noqa: E402
from inspector.model.card import ModelCard  # noqa: E402
from inspector.model.loader import load_classifier  # noqa: E402
from inspector.model.network import SegDecEnsemble, SegDecNet, build_network  # noqa: E402
from tests.conftest import TINY_ARGS  # noqa: E402
from training.loop import autocast, predict_probs  # noqa: E402
from training.options import check_args, get_args_parser  # noqa: E402
from training.train import main, member_seed  # noqa: E402


def _nets(count: int) -> list[SegDecNet]:
    torch.manual_seed(0)
    return [SegDecNet(3, 1, (8, 8, 8, 8), 8).eval() for _ in range(count)]


def test_the_ensemble_averages_probabilities_and_defect_maps():
    nets = _nets(3)
    ensemble = SegDecEnsemble.of(nets).eval()
    x = torch.randn(4, 1, 64, 64)
    with torch.no_grad():
        logits, dmap = ensemble(x)
        outputs = [net(x) for net in nets]
    mean_probs = torch.stack([torch.softmax(lg, dim=1) for lg, _ in outputs]).mean(dim=0)
    assert torch.allclose(torch.softmax(logits, dim=1), mean_probs, atol=1e-6)
    assert torch.allclose(dmap, torch.stack([m for _, m in outputs]).mean(dim=0), atol=1e-6)
    # not just one member passed through
    assert not torch.allclose(torch.softmax(logits, dim=1), torch.softmax(outputs[0][0], dim=1), atol=1e-3)


def test_an_ensemble_rebuilds_from_its_card_params():
    ensemble = SegDecEnsemble.of(_nets(2))
    rebuilt = build_network("segdec-ensemble", 3, 1, widths=[8, 8, 8, 8], head_width=8, members=2)
    rebuilt.load_state_dict(ensemble.state_dict())  # same keys and shapes, strict
    with pytest.raises(ModelError, match="at least one member"):
        build_network("segdec-ensemble", 3, 1, members=0)


def test_bf16_forward_runs_in_bfloat16_and_fp32_stays_exact():
    net = _nets(1)[0]
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        with autocast(torch.device("cpu"), "bf16"):
            low, _ = net(x)
        with autocast(torch.device("cpu"), "fp32"):
            plain, _ = net(x)
        reference, _ = net(x)
    assert low.dtype == torch.bfloat16 and plain.dtype == torch.float32
    assert torch.equal(plain, reference)
    assert torch.allclose(low.float(), reference, atol=0.1)  # close, not equal: bf16 has 8 mantissa bits
    probs = predict_probs(net, x.numpy(), "cpu", precision="bf16")
    assert probs.dtype == np.float32 and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="unknown precision"):
        autocast(torch.device("cpu"), "fp8")


@pytest.fixture(scope="module")
def ensemble_runs(tmp_path_factory, synthetic_dataset):
    """The same seed trained as one network and as a two-network ensemble, both in bf16."""
    out = tmp_path_factory.mktemp("ensemble")
    args = [str(synthetic_dataset), *TINY_ARGS, "--precision", "bf16", "--seed", "3"]
    single = main(get_args_parser().parse_args([*args, "--out", str(out / "single")]))
    pair = main(get_args_parser().parse_args([*args, "--out", str(out / "pair"), "--ensemble", "2"]))
    return out, single, pair


def test_member_zero_is_the_single_network_of_that_seed(ensemble_runs):
    out, _, _ = ensemble_runs
    single = torch.load(out / "single" / "model.pt")
    pair = torch.load(out / "pair" / "model.pt")
    member0 = {k.removeprefix("members.0."): v for k, v in pair.items() if k.startswith("members.0.")}
    member1 = {k.removeprefix("members.1."): v for k, v in pair.items() if k.startswith("members.1.")}
    assert member0.keys() == single.keys() == member1.keys()
    assert all(torch.equal(member0[k], single[k]) for k in single)
    # member 1 trained from its own seed: different weights, not a copy
    assert not all(torch.equal(member1[k], single[k]) for k in single if single[k].is_floating_point())
    assert member_seed(3, 1) == 1003


def test_the_ensemble_bundle_is_one_graph_both_backends_agree(ensemble_runs, synthetic_dataset):
    out, single, pair = ensemble_runs
    card = ModelCard.load(out / "pair")
    assert card.arch == "segdec-ensemble" and card.arch_params["members"] == 2
    assert ModelCard.load(out / "single").arch == "segdec"
    assert pair["args"]["ensemble"] == 2 and pair["args"]["precision"] == "bf16"
    members = {h["member"] for h in pair["history"]}
    assert members == {0, 1} and all("member" not in h for h in single["history"])
    images = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in
              sorted(synthetic_dataset.rglob("*.png"))[:6]]
    onnx_preds = load_classifier(out / "pair", "onnx").predict(images)
    torch_preds = load_classifier(out / "pair", "torch").predict(images)
    for a, b in zip(onnx_preds, torch_preds, strict=True):
        assert max(abs(a.scores[c] - b.scores[c]) for c in a.scores) < 1e-4
        assert abs(sum(a.scores.values()) - 1) < 1e-5
        assert a.verdict == b.verdict


@pytest.mark.parametrize(("extra", "message"), [
    (["--ensemble", "0"], "--ensemble must lie in"),
    (["--ensemble", "9"], "--ensemble must lie in"),
    (["--ensemble", "2", "--good-only"], "good-only gate is one network"),
    (["--ensemble", "2", "--refit-from", "cv"], "takes no --ensemble above 1"),
])
def test_bad_ensemble_options_are_refused(tmp_path, extra, message):
    args = get_args_parser().parse_args(["data", "--out", str(tmp_path / "b"), *extra])
    with pytest.raises(ConfigError, match=message):
        check_args(args)


def test_an_unknown_precision_is_refused_by_the_parser(tmp_path, capsys):
    with pytest.raises(SystemExit):
        get_args_parser().parse_args(["data", "--out", str(tmp_path / "b"), "--precision", "fp16"])
    assert "invalid choice" in capsys.readouterr().err
