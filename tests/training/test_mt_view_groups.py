"""scripts/mt_view_groups.py: views of one tile are linked exposure to exposure; other tiles stay apart."""

from __future__ import annotations

from tests.scripts import load_script


def _view(exp, num, shape, label="free"):
    return {"image": f"images/{label}/exp{exp}_num_{num}.jpg", "label": label, "split": "train",
            "exp": exp, "num": num, "shape": shape}


def test_two_interleaved_tiles_of_different_size_become_two_groups():
    groups = load_script("mt_view_groups").group_views([
        _view(1, 100, (250, 600), "break"), _view(1, 110, (300, 300)),
        _view(2, 125, (255, 605), "break"), _view(2, 131, (302, 298)),
        _view(3, 150, (260, 610)), _view(3, 160, (305, 300)),  # the break tile's third view says free
        _view(1, 900, (250, 600)),  # too far on: another tile
    ])
    by_first = {g[0]["num"]: sorted(v["num"] for v in g) for g in groups}
    assert by_first == {100: [100, 125, 150], 110: [110, 131, 160], 900: [900]}
    mixed = [g for g in groups if len({v["label"] for v in g}) > 1]
    assert [sorted(v["num"] for v in g) for g in mixed] == [[100, 125, 150]]
