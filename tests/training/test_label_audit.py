"""Label audit: which out-of-fold rows are disputed, why, in what order, and the CSV a person reads."""

import csv

from training.label_audit import DEFECT_PASSED, GOOD_REJECTED, OTHER_CLASS, find_suspects, write_suspects


def _row(image, label, predicted, score, probs=None, fold=0):
    row = {"image": image, "label": label, "predicted": predicted, "defect_score": score, "fold": fold}
    return {**row, "probs": probs} if probs is not None else row


ROWS = [
    _row("ok-good.png", "free", "free", 0.10, {"free": 0.9, "crack": 0.06, "break": 0.04}),
    _row("ok-defect.png", "crack", "crack", 0.97, {"free": 0.03, "crack": 0.9, "break": 0.07}),
    _row("good-but-break.png", "free", "break", 0.95, {"free": 0.05, "crack": 0.05, "break": 0.9}),
    _row("good-maybe-crack.png", "free", "crack", 0.60, {"free": 0.4, "crack": 0.45, "break": 0.15}),
    _row("defect-passed.png", "crack", "free", 0.20, {"free": 0.8, "crack": 0.15, "break": 0.05}),
    _row("crack-called-break.png", "crack", "break", 0.99, {"free": 0.01, "crack": 0.19, "break": 0.80}),
    _row("other-good.png", "free", "clean", 0.05, {"free": 0.3, "clean": 0.65, "crack": 0.05}),
]


def test_each_kind_of_dispute_is_found_with_its_reason_and_agreeing_rows_are_not():
    found = {s.image: s for s in find_suspects(ROWS, ["free", "clean"])}
    # A good part filed under another good class is no dispute.
    assert set(found) == {"good-but-break.png", "good-maybe-crack.png", "defect-passed.png",
                          "crack-called-break.png"}
    assert found["good-but-break.png"].reason == GOOD_REJECTED
    assert found["defect-passed.png"].reason == DEFECT_PASSED
    assert found["crack-called-break.png"].reason == OTHER_CLASS
    assert found["crack-called-break.png"].strength == 0.61  # p(break) - p(crack)
    assert found["defect-passed.png"].strength == 0.65  # p(free) - p(crack)


def test_the_most_confident_disagreement_comes_first():
    suspects = find_suspects(ROWS, ["free", "clean"])
    assert [s.image for s in suspects] == ["good-but-break.png", "defect-passed.png",
                                           "crack-called-break.png", "good-maybe-crack.png"]


def test_rows_without_probabilities_rank_by_the_defect_score():
    rows = [{k: v for k, v in r.items() if k != "probs"} for r in ROWS]
    found = {s.image: s.strength for s in find_suspects(rows, ["free", "clean"])}
    assert found["good-but-break.png"] == 0.95 and found["defect-passed.png"] == 0.8


def test_suspects_are_written_as_a_csv_in_order(tmp_path):
    suspects = find_suspects(ROWS, ["free", "clean"])
    write_suspects(suspects, tmp_path / "s.csv")
    with (tmp_path / "s.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == [s.image for s in suspects]
    assert rows[0]["reason"] == GOOD_REJECTED and float(rows[0]["defect_score"]) == 0.95
    assert rows[0]["fold"] == "0"


def test_no_rows_give_an_empty_audit_with_a_header(tmp_path):
    write_suspects(find_suspects([], ["free"]), tmp_path / "s.csv")
    header = (tmp_path / "s.csv").read_text().strip()
    assert header == "image,label,predicted,defect_score,reason,strength,fold"
