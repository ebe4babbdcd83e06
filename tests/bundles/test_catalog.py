"""Listing a models folder: good bundles with cards, broken ones with their error, safe names."""

from __future__ import annotations

import pytest

from inspector.bundles.catalog import BadBundleName, BundleNotFound, bundle_path, list_bundles
from tests.bundles.fakes import write_card


def test_lists_each_bundle_with_its_card_and_a_broken_one_with_its_error(tmp_path):
    write_card(tmp_path / "alpha")
    write_card(tmp_path / "beta", classes=("ok", "dent", "scratch"))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "card.json").write_text("{not json")
    (tmp_path / "no-card").mkdir()           # not a bundle: not listed
    (tmp_path / "notes.txt").write_text("x")
    listed = {b.name: b for b in list_bundles(tmp_path)}
    assert sorted(listed) == ["alpha", "beta", "broken"]
    assert listed["beta"].card is not None and listed["beta"].card.classes == ["ok", "dent", "scratch"]
    assert listed["broken"].card is None and "not valid JSON" in listed["broken"].error


def test_a_card_that_does_not_validate_is_listed_with_the_reason(tmp_path):
    write_card(tmp_path / "bad", ng=0.2, review=0.9)
    (info,) = list_bundles(tmp_path)
    assert not info.ok and "review <= ng" in info.error


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b", "/etc", "a\\b", "", "x" * 200])
def test_bundle_names_must_be_plain_folder_names(tmp_path, name):
    with pytest.raises(BadBundleName):
        bundle_path(tmp_path / "models", name)


def test_a_link_out_of_the_models_folder_is_refused_and_listed_as_such(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    write_card(tmp_path / "outside")
    (models / "escape").symlink_to(tmp_path / "outside")
    with pytest.raises(BundleNotFound, match="outside"):
        bundle_path(models, "escape")
    (info,) = list_bundles(models)
    assert info.name == "escape" and not info.ok


def test_unknown_bundle(tmp_path):
    with pytest.raises(BundleNotFound):
        bundle_path(tmp_path, "nope")
