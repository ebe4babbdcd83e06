"""ONNX Runtime session settings: tuned for small CPUs, the shipped bundles' scores unchanged."""

from pathlib import Path

import numpy as np
import pytest

from inspector.errors import ModelError
from inspector.model.loader import load_classifier
from inspector.model.onnx_backend import SessionSettings
from inspector.model.preprocess import read_image
from tests.conftest import SAMPLE

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
SHIPPED = sorted(p.name for p in WEIGHTS.iterdir() if (p / "card.json").is_file())


def _old_session(path: str):
    """The session every bundle ran on before issue 32: 2 threads, default spinning and graph level."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def _on_old_sessions(bundle: Path):
    clf = load_classifier(bundle)
    for runtime in (clf, clf.gate):
        if runtime is not None:
            runtime.session = _old_session(str(bundle / runtime.onnx_file))
    return clf


@pytest.fixture(scope="module")
def sample_images():
    paths = sorted(p for p in (SAMPLE / "images").rglob("*.jpg"))
    assert len(paths) == 28
    return [read_image(p) for p in paths]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_bundles_score_the_sample_as_on_the_old_sessions(name, sample_images):
    new, old = load_classifier(WEIGHTS / name), _on_old_sessions(WEIGHTS / name)
    assert new.settings == SessionSettings() and not new.settings.spinning and new.max_batch == 4
    got, want = new.predict(sample_images), old.predict(sample_images)
    assert [p.verdict for p in got] == [p.verdict for p in want]
    assert [p.label for p in got] == [p.label for p in want]
    np.testing.assert_allclose([p.defect_score for p in got], [p.defect_score for p in want], atol=1e-5)
    if new.gate is not None:
        np.testing.assert_allclose([p.anomaly_score for p in got], [p.anomaly_score for p in want],
                                   atol=1e-5)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(list(a.scores.values()), list(b.scores.values()), atol=1e-5)


def test_the_gate_session_gets_the_same_settings():
    settings = SessionSettings(threads=1, graph_level="extended")
    clf = load_classifier(WEIGHTS / "magnetic-tile", session=settings)
    assert clf.settings == settings and clf.gate.settings == settings


def test_session_options_follow_the_settings():
    opts = SessionSettings(threads=3, spinning=False, graph_level="basic").options()
    assert opts.intra_op_num_threads == 3 and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert str(opts.graph_optimization_level).endswith("ORT_ENABLE_BASIC")


def test_an_unknown_graph_level_is_refused():
    with pytest.raises(ModelError, match="graph_level"):
        SessionSettings(graph_level="fastest").options()


def test_a_session_runs_at_most_run_inputs_network_inputs(sample_images):
    clf = load_classifier(WEIGHTS / "magnetic-tile", max_batch=8)
    assert clf.max_batch == 4 and clf.gate.max_batch == 4  # the default run_inputs: one image's views
    wide = load_classifier(WEIGHTS / "magnetic-tile", max_batch=8, session=SessionSettings(run_inputs=None))
    assert wide.max_batch == 8
    got, want = clf.predict(sample_images[:8]), wide.predict(sample_images[:8])
    np.testing.assert_allclose([p.defect_score for p in got], [p.defect_score for p in want], atol=1e-5)


def test_leaving_qdq_propagation_out_keeps_every_output_bit_for_bit(sample_images):
    # The max pool after the first convolution then runs before the quantisation instead of
    # after it: max commutes with the monotone quantisation, so nothing may move at all.
    import onnxruntime as ort

    from inspector.model.preprocess import apply_view, prepare_batch

    assert "QDQPropagationTransformer" in SessionSettings().disabled_optimizers
    clf = load_classifier(WEIGHTS / "magnetic-tile", graph="int8", gate_graph="int8")  # on any CPU
    for runtime in (clf, clf.gate):
        assert runtime.graph == "int8"
        propagated = ort.InferenceSession(str(WEIGHTS / "magnetic-tile" / runtime.onnx_file),
                                          runtime.settings.options(), providers=["CPUExecutionProvider"])
        batch, _ = prepare_batch(sample_images[:6], runtime.card.canvas)
        for view in runtime.card.tta_views:
            x = np.ascontiguousarray(apply_view(batch, view))
            for ours, theirs in zip(runtime.session.run(None, {"image": x}),
                                    propagated.run(None, {"image": x}), strict=True):
                np.testing.assert_array_equal(ours, theirs)
