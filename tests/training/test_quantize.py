"""inspector quantize: an INT8 graph beside model.onnx, the card's choice of graph, clear errors."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from inspector import machine
from inspector.errors import DatasetError, ModelError
from inspector.model.card import CARD_FILE, ModelCard
from inspector.model.loader import load_classifier
from inspector.model.onnx_backend import (
    GATE_INT8_ONNX_FILE,
    GATE_ONNX_FILE,
    INT8_ONNX_FILE,
    ONNX_FILE,
    OnnxClassifier,
    weights_hash,
)
from tests.synthetic import plant, tile

pytest.importorskip("onnx")  # onnxruntime.quantization needs it (the [train] extra)


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, tiny_bundle, synthetic_dataset):
    """The tiny bundle quantised (a copy), with what the command printed."""
    from training.quantize import get_args_parser, main

    bundle = tmp_path_factory.mktemp("quantized") / "tiny"
    shutil.copytree(tiny_bundle, bundle)
    args = get_args_parser().parse_args([str(bundle), str(synthetic_dataset), "--method", "minmax",
                                         "--calibration-images", "8", "--threads", "1"])
    return bundle, main(args)


@pytest.fixture
def images():
    rng = np.random.default_rng(3)
    return [tile(rng), plant(tile(rng), "blob", rng)[0], tile(rng)]


def _card_with(bundle, **fields):
    raw = json.loads((bundle / CARD_FILE).read_text())
    raw.update(fields)
    (bundle / CARD_FILE).write_text(json.dumps(raw))


def _copy(bundle, tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(bundle, dst)
    return dst


def _judged_as(record, **kept_by_kernel):
    """An INT8 record whose judgments say, by INT8 kernel family, whether it kept the test figures."""
    judgment = next(iter(record["judged"].values()))
    judged = {k: {**judgment, "kept_test_figures": kept} for k, kept in kept_by_kernel.items()}
    return {**record, "judged": judged}


def _runs_int8_here(record):
    return _judged_as(record, **{machine.int8_kernel(): True})


def _on_kernel(monkeypatch, kernel):
    """As if this CPU's INT8 kernel family were `kernel` (the CPU is the hardware boundary)."""
    monkeypatch.setattr(machine, "int8_kernel", lambda: kernel)


def test_quantize_writes_the_int8_graph_and_records_it_in_the_card(quantized, tiny_bundle):
    bundle, printed = quantized
    card = ModelCard.load(bundle)
    assert (bundle / ONNX_FILE).read_bytes() == (tiny_bundle / ONNX_FILE).read_bytes()  # float kept
    assert card.int8["weights_hash"] == weights_hash(bundle / INT8_ONNX_FILE) == printed["weights_hash"]
    assert card.int8["from_weights_hash"] == card.weights_hash
    assert card.int8["calibration_inputs"] == 8 * len(card.tta_views)  # every view of each image
    assert len(card.int8["keep_float"]) == 1  # the node reading the image stays float by default
    assert set(card.int8["judged"]) == {machine.int8_kernel()} == {printed["int8_kernel"]}
    here = card.int8["judged"][machine.int8_kernel()]
    assert here["cpu"] == machine.cpu_model() and here["command"]
    figures = here["figures"]
    assert set(figures) == {"val", "test"}
    for split in figures.values():
        assert split["float"]["n"] == split["int8"]["n"] > 0
        for change in split["changed"]:  # a part listed changed its verdict or its class
            assert change["float"] != change["int8"]
    test = figures["test"]
    kept = all(test["int8"][k] == test["float"][k] for k in ("defect_recall", "false_reject_rate",
                                                            "macro_f1"))
    assert here["kept_test_figures"] is kept and card.graph == ("int8" if kept else "float")
    assert card.running_graph == card.graph == printed["runs_here"]
    assert not [p for p in bundle.iterdir() if p.name.startswith("int8-")]  # no staging left


def test_the_loader_runs_the_graph_the_card_names(quantized, tmp_path, images):
    bundle = _copy(quantized[0], tmp_path)
    _card_with(bundle, graph="int8", int8=_runs_int8_here(ModelCard.load(bundle).int8))
    int8 = load_classifier(bundle)
    assert int8.onnx_file == INT8_ONNX_FILE and ".int8-" in int8.card.version
    _card_with(bundle, graph="float")
    plain = load_classifier(bundle)
    assert plain.onnx_file == ONNX_FILE and ".int8-" not in plain.card.version
    # The int8 session is the quantised graph: its scores are its own, and close to float's.
    direct = OnnxClassifier(bundle, int8.card, graph="int8").predict(images, heatmaps=False)
    got, ref = int8.predict(images, heatmaps=False), plain.predict(images, heatmaps=False)
    assert [p.defect_score for p in got] == [p.defect_score for p in direct]
    diffs = [abs(a.defect_score - b.defect_score) for a, b in zip(got, ref, strict=True)]
    assert max(diffs) > 0 and max(diffs) < 0.2
    assert load_classifier(bundle, graph="int8").onnx_file == INT8_ONNX_FILE  # a benchmark's override


def test_an_int8_graph_runs_only_on_the_kernel_families_it_was_judged_on(quantized, tmp_path,
                                                                       monkeypatch, caplog):
    bundle = _copy(quantized[0], tmp_path)
    record = ModelCard.load(bundle).int8
    _card_with(bundle, graph="int8", int8=_judged_as(record, vnni=True, avx2=False))
    _on_kernel(monkeypatch, "vnni")
    assert load_classifier(bundle).onnx_file == INT8_ONNX_FILE
    _on_kernel(monkeypatch, "avx2")  # judged there, and it changed the test figures
    with caplog.at_level("WARNING", logger="inspector.model.loader"):
        model = load_classifier(bundle)
    assert model.onnx_file == ONNX_FILE and ".int8-" not in model.card.version
    assert "changed the test figures on CPUs of this one's INT8 kernel family (avx2)" in caplog.text
    assert "--judge" not in caplog.text  # judging again would give the same answer
    _on_kernel(monkeypatch, "aarch64")  # never judged there
    caplog.clear()
    with caplog.at_level("WARNING", logger="inspector.model.loader"):
        assert load_classifier(bundle).onnx_file == ONNX_FILE
    assert "judged only on CPUs of INT8 kernel family avx2, vnni, not this one's (aarch64)" in caplog.text
    assert "inspector quantize" in caplog.text and "--judge" in caplog.text
    assert load_classifier(bundle, graph="int8").onnx_file == INT8_ONNX_FILE  # a benchmark's override
    _on_kernel(monkeypatch, "unknown")  # an x86 CPU without AVX2: nothing to judge it by
    caplog.clear()
    with caplog.at_level("WARNING", logger="inspector.model.loader"):
        assert load_classifier(bundle).onnx_file == ONNX_FILE
    assert "its INT8 kernel family is unknown" in caplog.text
    _on_kernel(monkeypatch, "vnni")
    legacy = {k: v for k, v in record.items() if k != "judged"}  # before judgments by family
    _card_with(bundle, graph="int8", int8=legacy)
    caplog.clear()
    with caplog.at_level("WARNING", logger="inspector.model.loader"):
        assert load_classifier(bundle).onnx_file == ONNX_FILE  # of no known family: float
    assert "judged before judgments were kept by CPU INT8 kernel family" in caplog.text
    _card_with(bundle, graph="int8", int8={**record, "judged": ["avx2"]})
    with pytest.raises(ModelError, match=r"int8\.judged must map INT8 kernel families"):
        ModelCard.load(bundle)


def test_judge_adds_this_cpus_judgment_and_rebuilds_nothing(quantized_gated, tmp_path, monkeypatch,
                                                           synthetic_dataset):
    from training.quantize import get_args_parser, main

    bundle = _copy(quantized_gated[0], tmp_path)
    real = machine.int8_kernel()
    other = "avx2" if real == "vnni" else "vnni"
    graphs = {name: (bundle / name).read_bytes() for name in (INT8_ONNX_FILE, GATE_INT8_ONNX_FILE)}
    _on_kernel(monkeypatch, other)  # a station PC of the other family
    model = load_classifier(bundle)
    assert model.onnx_file == ONNX_FILE and model.gate.onnx_file == GATE_ONNX_FILE  # not judged here
    printed = main(get_args_parser().parse_args([str(bundle), str(synthetic_dataset), "--judge",
                                                 "--threads", "1"]))
    assert {name: (bundle / name).read_bytes() for name in graphs} == graphs
    card = ModelCard.load(bundle)
    for record in (card.int8, card.gate["int8"]):
        assert set(record["judged"]) == {real, other}
        first, added = record["judged"][real], record["judged"][other]
        # The same graphs on the same CPU: the same figures, now recorded for the other family too.
        assert added["figures"] == first["figures"]
    assert printed["int8_kernel"] == other and printed["runs_here"] == card.running_graph
    model = load_classifier(bundle)
    assert model.onnx_file == (INT8_ONNX_FILE if card.int8["judged"][other]["kept_test_figures"]
                               else ONNX_FILE)


def test_judge_needs_no_train_images_and_drops_a_judgment_of_no_family(quantized, tmp_path,
                                                                      synthetic_dataset):
    from training.quantize import get_args_parser, main

    bundle = _copy(quantized[0], tmp_path)
    record = ModelCard.load(bundle).int8
    judgment = record["judged"][machine.int8_kernel()]
    legacy = {**{k: v for k, v in record.items() if k != "judged"}, "figures": judgment["figures"],
              "kept_test_figures": judgment["kept_test_figures"]}  # the layout before families
    _card_with(bundle, int8=legacy)
    paths = sorted((synthetic_dataset / "images").rglob("*.png"))
    rows = [f"{p.relative_to(synthetic_dataset)},{p.parent.name},{('val', 'test')[i % 2]}"
            for i, p in enumerate(paths)]  # a line PC's images: nothing to calibrate on
    csv = tmp_path / "split.csv"
    csv.write_text("image,label,split\n" + "\n".join(rows) + "\n")
    main(get_args_parser().parse_args([str(bundle), str(synthetic_dataset), "--split-csv", str(csv),
                                       "--judge", "--threads", "1"]))
    judged = ModelCard.load(bundle).int8
    assert set(judged["judged"]) == {machine.int8_kernel()}
    assert "figures" not in judged and "kept_test_figures" not in judged


def test_judge_needs_an_int8_graph(tiny_bundle, tmp_path, synthetic_dataset):
    from training.quantize import get_args_parser, main

    with pytest.raises(ModelError, match=r"has no INT8 graph to judge.*without --judge"):
        main(get_args_parser().parse_args([str(tiny_bundle), str(synthetic_dataset), "--judge"]))


def test_a_card_without_the_field_runs_model_onnx(tiny_bundle):
    card = ModelCard.load(tiny_bundle)
    assert card.graph is None and card.int8 is None
    assert load_classifier(tiny_bundle).onnx_file == ONNX_FILE
    assert "graph" not in json.loads(card.to_json())  # unset: a card older Inspectors still read
    with pytest.raises(ModelError, match=r"records no INT8 graph.*inspector quantize"):
        load_classifier(tiny_bundle, graph="int8")


def test_a_missing_int8_graph_is_a_clear_error(quantized, tmp_path):
    bundle = _copy(quantized[0], tmp_path)
    _card_with(bundle, graph="int8", int8=_runs_int8_here(ModelCard.load(bundle).int8))
    (bundle / INT8_ONNX_FILE).unlink()
    with pytest.raises(ModelError, match=r"model\.int8\.onnx is missing.*inspector quantize"):
        load_classifier(bundle)


def test_a_mismatched_int8_graph_is_refused(quantized, tmp_path):
    bundle = _copy(quantized[0], tmp_path)
    _card_with(bundle, graph="int8", int8=_runs_int8_here(ModelCard.load(bundle).int8))
    shutil.copyfile(bundle / ONNX_FILE, bundle / INT8_ONNX_FILE)  # another graph under its name
    with pytest.raises(ModelError, match=r"model\.int8\.onnx is not the graph its card was written for"):
        load_classifier(bundle)


def test_a_card_naming_int8_needs_a_record_of_it_from_its_own_float_graph(quantized, tmp_path):
    bundle = _copy(quantized[0], tmp_path)
    _card_with(bundle, graph="int8", int8=None)
    with pytest.raises(ModelError, match=r"records no int8\.weights_hash"):
        ModelCard.load(bundle)
    record = ModelCard.load(quantized[0]).int8
    _card_with(bundle, graph="int8", int8={**record, "from_weights_hash": "0" * 64})
    with pytest.raises(ModelError, match=r"made from another model\.onnx"):
        ModelCard.load(bundle)
    _card_with(bundle, graph="fp16")
    with pytest.raises(ModelError, match="card graph 'fp16'"):
        ModelCard.load(bundle)


def test_quantize_command_gives_a_clear_error_for_a_missing_bundle(tmp_path, synthetic_dataset):
    out = subprocess.run([sys.executable, "-m", "training.quantize", str(tmp_path / "nothing"),
                          str(synthetic_dataset)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "does not exist" in out.stderr
    assert not (tmp_path / "nothing").exists()


def test_quantize_needs_val_and_test_images_and_writes_nothing_without(tmp_path, tiny_bundle,
                                                                      synthetic_dataset):
    from training.quantize import get_args_parser, main

    paths = sorted((synthetic_dataset / "images").rglob("*.png"))
    rows = [f"{p.relative_to(synthetic_dataset)},{p.parent.name},train" for p in paths]
    csv = tmp_path / "split.csv"
    csv.write_text("image,label,split\n" + "\n".join(rows) + "\n")
    bundle = _copy(tiny_bundle, tmp_path)
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    with pytest.raises(DatasetError, match=r"no images in split\(s\) val, test"):
        main(get_args_parser().parse_args([str(bundle), str(synthetic_dataset), "--split-csv", str(csv)]))
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before


@pytest.fixture(scope="module")
def quantized_gated(tmp_path_factory, tiny_bundle, gate, synthetic_dataset):
    """A copy of the tiny classifier with the gate attached, quantised, with what was printed."""
    from inspector.model.gate import attach_gate
    from training.quantize import get_args_parser, main

    bundle = tmp_path_factory.mktemp("quantized-gated") / "tiny"
    shutil.copytree(tiny_bundle, bundle)
    attach_gate(bundle, gate)
    args = get_args_parser().parse_args([str(bundle), str(synthetic_dataset), "--calibration-images", "8",
                                         "--threads", "1"])
    return bundle, main(args)


def _gate_with(bundle, **fields):
    raw = json.loads((bundle / CARD_FILE).read_text())
    raw["gate"].update(fields)
    (bundle / CARD_FILE).write_text(json.dumps(raw))


def _gate_runs_int8_here(bundle):
    _gate_with(bundle, graph="int8", int8=_runs_int8_here(ModelCard.load(bundle).gate["int8"]))


def test_quantize_also_quantizes_an_attached_gate_and_records_it(quantized_gated, gate):
    import onnx

    bundle, printed = quantized_gated
    card = ModelCard.load(bundle)
    record = card.gate["int8"]
    assert (bundle / GATE_ONNX_FILE).read_bytes() == (gate / ONNX_FILE).read_bytes()  # float kept
    assert record["weights_hash"] == weights_hash(bundle / GATE_INT8_ONNX_FILE)
    assert printed["gate"]["weights_hash"] == record["weights_hash"]
    assert record["from_weights_hash"] == card.gate_card.weights_hash
    assert record["calibration_inputs"] == 8  # good train images, in the gate's one view
    # Float: the conv reading the image, and the feature branch its bank compares (pooling, concat).
    graph = onnx.load(str(bundle / GATE_INT8_ONNX_FILE))
    kept = {n.name for n in graph.graph.node} & set(record["keep_float"])
    ops = {n.op_type for n in graph.graph.node if n.name in kept}
    assert {"Conv", "AveragePool", "Concat"} <= ops
    produced_features = next(n for n in graph.graph.node if "features" in n.output)
    assert produced_features.name in record["keep_float"]
    assert any(n.op_type == "QuantizeLinear" for n in graph.graph.node)  # the rest is int8
    here = record["judged"][machine.int8_kernel()]
    test = here["figures"]["test"]
    kept_figures = all(test["int8"][k] == test["float"][k] for k in ("defect_recall", "false_reject_rate",
                                                                    "macro_f1"))
    assert here["kept_test_figures"] is kept_figures
    assert card.gate_card.graph == printed["gate"]["graph"] == ("int8" if kept_figures else "float")


def test_the_loader_runs_the_gate_graph_the_card_names(quantized_gated, tmp_path, images):
    bundle = _copy(quantized_gated[0], tmp_path)
    _gate_runs_int8_here(bundle)
    int8 = load_classifier(bundle)
    assert int8.gate.onnx_file == GATE_INT8_ONNX_FILE
    assert int8.card.version.split("+")[1].endswith(".int8-" + int8.card.gate["int8"]["weights_hash"][:8])
    _gate_with(bundle, graph="float")
    plain = load_classifier(bundle)
    assert plain.gate.onnx_file == GATE_ONNX_FILE and ".int8-" not in plain.card.version.split("+")[1]
    got = [p.anomaly_score for p in int8.predict(images, heatmaps=False)]
    ref = [p.anomaly_score for p in plain.predict(images, heatmaps=False)]
    assert got != ref and max(abs(a - b) for a, b in zip(got, ref, strict=True)) < 0.2
    assert load_classifier(bundle, gate_graph="int8").gate.onnx_file == GATE_INT8_ONNX_FILE


def test_a_missing_or_mismatched_gate_graph_is_a_clear_error(quantized_gated, tmp_path):
    from inspector.commands.preflight import bundle_problem

    bundle = _copy(quantized_gated[0], tmp_path)
    _gate_runs_int8_here(bundle)
    shutil.copyfile(bundle / GATE_ONNX_FILE, bundle / GATE_INT8_ONNX_FILE)  # another graph under its name
    with pytest.raises(ModelError, match=r"anomaly\.int8\.onnx is not the graph its card was written for"):
        load_classifier(bundle)
    (bundle / GATE_INT8_ONNX_FILE).unlink()
    with pytest.raises(ModelError, match=r"anomaly\.int8\.onnx is missing.*inspector quantize"):
        load_classifier(bundle)
    assert "lacks anomaly.int8.onnx" in bundle_problem(bundle)


def test_attaching_a_gate_again_runs_it_float_and_drops_the_old_int8_graph(quantized_gated, tmp_path, gate):
    from inspector.model.gate import attach_gate

    bundle = _copy(quantized_gated[0], tmp_path)
    _gate_runs_int8_here(bundle)
    judged = ModelCard.load(bundle).int8["judged"]
    attach_gate(bundle, gate)
    assert not (bundle / GATE_INT8_ONNX_FILE).exists()
    card = ModelCard.load(bundle)
    assert card.gate_card.graph is None and card.gate_card.int8 is None
    assert load_classifier(bundle).gate.onnx_file == GATE_ONNX_FILE
    # The same gate at the same threshold: the classifier's judgments still hold.
    assert card.int8["judged"] == judged and card.judgments_set_aside == []
    # Another gate (other weights), even at the same threshold, judges other parts.
    other = {**card.gate, "weights_hash": "f" * 64}
    swapped = card.with_verdict_rule(card.thresholds, card.fusion, gate=other)
    assert swapped.int8["judged"] == {} and swapped.judgments_set_aside == sorted(judged)


def test_a_gate_naming_int8_without_a_record_is_refused_in_the_gates_words(quantized_gated, tmp_path):
    bundle = _copy(quantized_gated[0], tmp_path)
    _gate_with(bundle, graph="int8", int8=None)
    with pytest.raises(ModelError, match=r"card gate names graph int8 .* of anomaly\.int8\.onnx"):
        ModelCard.load(bundle)


def test_graphs_that_change_the_test_figures_are_kept_but_not_run(tmp_path, tiny_bundle, gate,
                                                                 synthetic_dataset, monkeypatch):
    from inspector.model.gate import attach_gate
    from training import quantize

    real = quantize.compare

    def worse(float_model, int8_model, samples):  # as if INT8 had missed a defect
        out = real(float_model, int8_model, samples)
        return {**out, "int8": {**out["int8"], "defect_recall": out["float"]["defect_recall"] - 0.1}}

    monkeypatch.setattr(quantize, "compare", worse)
    bundle = _copy(tiny_bundle, tmp_path)
    attach_gate(bundle, gate)
    quantize.main(quantize.get_args_parser().parse_args([str(bundle), str(synthetic_dataset),
                                                         "--calibration-images", "4", "--threads", "1"]))
    card = ModelCard.load(bundle)
    here = machine.int8_kernel()
    assert card.graph == "float" and card.int8["judged"][here]["kept_test_figures"] is False
    assert card.gate_card.graph == "float" and card.gate["int8"]["judged"][here]["kept_test_figures"] is False
    assert (bundle / INT8_ONNX_FILE).is_file() and (bundle / GATE_INT8_ONNX_FILE).is_file()
    model = load_classifier(bundle)
    assert model.onnx_file == ONNX_FILE and model.gate.onnx_file == GATE_ONNX_FILE


def test_a_fused_gate_is_quantized_and_judged_in_its_fused_bundle(fused, synthetic_dataset):
    from training.quantize import get_args_parser, main

    before = ModelCard.load(fused).fusion
    printed = main(get_args_parser().parse_args([str(fused), str(synthetic_dataset),
                                                 "--calibration-images", "4", "--threads", "1"]))
    card = ModelCard.load(fused)
    assert card.fusion == before  # calibrated on the float gate's scores; INT8 is judged against it
    record = card.gate["int8"]
    assert printed["gate"]["graph"] == card.gate_card.graph
    test = record["judged"][machine.int8_kernel()]["figures"]["test"]
    assert test["float"]["n"] > 0 and "anomaly_score_moved" in test
    assert load_classifier(fused).gate.onnx_file == (GATE_INT8_ONNX_FILE if card.gate_card.graph == "int8"
                                                     else GATE_ONNX_FILE)


def test_a_gate_needs_good_train_images_and_nothing_is_written_without(tmp_path, tiny_bundle, gate,
                                                                      synthetic_dataset):
    from inspector.model.gate import attach_gate
    from training.quantize import get_args_parser, main

    paths = sorted((synthetic_dataset / "images").rglob("*.png"))
    rows = [f"{p.relative_to(synthetic_dataset)},{p.parent.name},"  # every good image in test
            f"{'test' if p.parent.name == 'free' else ('val' if i % 3 == 0 else 'train')}"
            for i, p in enumerate(paths)]
    csv = tmp_path / "split.csv"
    csv.write_text("image,label,split\n" + "\n".join(rows) + "\n")
    bundle = _copy(tiny_bundle, tmp_path)
    attach_gate(bundle, gate)
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    with pytest.raises(DatasetError, match=r"no good train images \(free\)"):
        main(get_args_parser().parse_args([str(bundle), str(synthetic_dataset), "--split-csv", str(csv)]))
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before


def test_new_thresholds_set_the_int8_judgments_aside_until_judged_again(quantized_gated, tmp_path,
                                                                       synthetic_dataset, caplog):
    from typer.testing import CliRunner

    from inspector.cli import app
    from training.quantize import get_args_parser, main

    here = machine.int8_kernel()
    bundle, float_only = _copy(quantized_gated[0], tmp_path), tmp_path / "float-only"
    _card_with(bundle, graph="int8", int8=_runs_int8_here(ModelCard.load(bundle).int8))
    _gate_runs_int8_here(bundle)
    shutil.copytree(bundle, float_only)
    _card_with(float_only, graph=None)
    _gate_with(float_only, graph=None)
    before = ModelCard.load(bundle)
    model = load_classifier(bundle)
    assert (model.onnx_file, model.gate.onnx_file) == (INT8_ONNX_FILE, GATE_INT8_ONNX_FILE)
    # The same rule again is no change: the judgments stand.
    assert before.with_verdict_rule(before.thresholds, before.fusion) == before
    tuned = {}
    for folder in (bundle, float_only):
        result = CliRunner().invoke(app, ["tune-thresholds", str(folder), str(synthetic_dataset),
                                          "--max-false-reject", "0.5"])
        assert result.exit_code == 0, result.output
        tuned[folder] = (ModelCard.load(folder), result.stderr)
    card, stderr = tuned[bundle]
    assert card.thresholds != before.thresholds  # the premise: the rule changed
    # Chosen on the float graphs, as for a bundle that never had an INT8 graph.
    assert card.thresholds == tuned[float_only][0].thresholds
    assert card.metrics["val"] == tuned[float_only][0].metrics["val"]
    for record in (card.int8, card.gate["int8"]):
        assert record["judged"] == {} and record["judged_under_other_thresholds"] == [here]
    assert card.judgments_set_aside == [here] and card.graph == "int8"
    assert "judged under the old thresholds" in stderr and f"quantize {bundle} DATASET --judge" in stderr
    with caplog.at_level("WARNING", logger="inspector.model.loader"):
        model = load_classifier(bundle)
    assert (model.onnx_file, model.gate.onnx_file) == (ONNX_FILE, GATE_ONNX_FILE)
    assert "under thresholds that have changed since" in caplog.text and "--judge" in caplog.text
    main(get_args_parser().parse_args([str(bundle), str(synthetic_dataset), "--judge", "--threads", "1"]))
    judged = ModelCard.load(bundle)
    assert judged.judgments_set_aside == [] and "judged_under_other_thresholds" not in judged.int8
    assert set(judged.int8["judged"]) == {here} == set(judged.gate["int8"]["judged"])


def test_fusing_a_gate_sets_the_int8_judgments_aside(quantized_gated, tmp_path, synthetic_dataset):
    from inspector.datasets import scan_dataset
    from inspector.model.gate import fuse_gate
    from inspector.model.thresholds import ThresholdRule

    bundle = _copy(quantized_gated[0], tmp_path)
    _card_with(bundle, graph="int8", int8=_judged_as(ModelCard.load(bundle).int8, vnni=True, avx2=True))
    card = fuse_gate(bundle, scan_dataset(synthetic_dataset).split("val"), ThresholdRule(0.99, 0.2))
    assert card.fusion is not None and card.int8["judged"] == {}
    assert card.judgments_set_aside == ["avx2", "vnni"]
    assert ModelCard.load(bundle).running_graph == "float"
