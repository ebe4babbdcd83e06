"""Label audit: which out-of-fold rows are disputed, why, in what order, and the CSV a person reads."""

import csv

from training.label_audit import DEFECT_PASSED, GOOD_REJECTED, OTHER_CLASS, find_suspects, write_suspects


def _row(image, label, predicted, score, probs=None, fold=0):
    row = {"image": image, "label": label, "predicted": predicted, "defect_score": score, "fold": fold}
    return {**row, "probs": probs} if probs is not None else row


ROWS = [
    _row("ok-good.png", "free", "free", 0.10),
    _row("ok-defect.png", "crack", "crack", 0.97),
    _row("good-but-rejected.png", "free", "break", 0.95),
    _row("good-just-rejected.png", "free", "free", 0.60),
    _row("defect-passed.png", "crack", "free", 0.20),
    _row("crack-called-break.png", "crack", "break", 0.99,
         probs={"free": 0.01, "crack": 0.19, "break": 0.80}),
]


def test_each_kind_of_dispute_is_found_with_its_reason_and_agreeing_rows_are_not():
    found = {s.image: s for s in find_suspects(ROWS, ["free"], review=0.5)}
    assert set(found) == {"good-but-rejected.png", "good-just-rejected.png", "defect-passed.png",
                          "crack-called-break.png"}
    assert found["good-but-rejected.png"].reason == GOOD_REJECTED
    assert found["defect-passed.png"].reason == DEFECT_PASSED
    assert found["crack-called-break.png"].reason == OTHER_CLASS
    assert found["crack-called-break.png"].strength == 0.61  # p(break) - p(crack)
    assert found["defect-passed.png"].strength == 0.8  # 1 - defect score


def test_the_threshold_decides_which_good_parts_are_disputed():
    images = [s.image for s in find_suspects(ROWS, ["free"], review=0.9)]
    assert "good-just-rejected.png" not in images and "good-but-rejected.png" in images
    # A defect below the REVIEW threshold is disputed as passed, whatever class it was given.
    assert "defect-passed.png" in images


def test_strongest_disagreement_comes_first():
    strengths = [s.strength for s in find_suspects(ROWS, ["free"], review=0.5)]
    assert strengths == sorted(strengths, reverse=True) and strengths[0] == 0.95


def test_suspects_are_written_as_a_csv_in_order(tmp_path):
    suspects = find_suspects(ROWS, ["free"], review=0.5)
    write_suspects(suspects, tmp_path / "s.csv")
    with (tmp_path / "s.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == [s.image for s in suspects]
    assert rows[0]["reason"] == GOOD_REJECTED and float(rows[0]["defect_score"]) == 0.95
    assert rows[0]["fold"] == "0"


def test_no_rows_give_an_empty_audit_with_a_header(tmp_path):
    write_suspects(find_suspects([], ["free"], review=0.5), tmp_path / "s.csv")
    header = (tmp_path / "s.csv").read_text().strip()
    assert header == "image,label,predicted,defect_score,reason,strength,fold"
