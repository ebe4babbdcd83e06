"""GET /inspections/{part_id}/image and /heatmap: archived files by part id, never a client path."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from inspector.domain import Verdict
from inspector.storage.archive import ImageArchive

from .conftest import T0, inspection

SECRET = b"root:x:0:0:do not serve me"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "images"
    root.mkdir(parents=True)
    (tmp_path / "secret.jpg").write_bytes(SECRET)  # beside the archive, never inside it
    return root


def _archived(store, archive: Path, uid: str) -> str:
    """One NG part saved by the station's own archive, with its heatmap overlay."""
    image = np.full((32, 48, 3), 90, np.uint8)
    heat = np.zeros((8, 12), np.float32)
    heat[2:5, 3:7] = 1.0
    saved = ImageArchive(archive).save(f"{uid}-p", image, Verdict.NG, heat, when=T0)
    row = replace(inspection(f"{uid}-p", f"{uid}-S", T0, uid, Verdict.NG, "crack"),
                  image_path=saved.image_path, heatmap_path=saved.heatmap_path)
    store.write([row])
    return row.part_id


def test_image_and_heatmap_are_served_as_stored(make_client, store, archive, uid):
    part = _archived(store, archive, uid)
    client = make_client(images_dir=archive)
    image = client.get(f"/inspections/{part}/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    stored = store.get(part)
    assert image.content == (archive / stored.image_path).read_bytes()
    assert image.content[:3] == b"\xff\xd8\xff"
    heatmap = client.get(f"/inspections/{part}/heatmap")
    assert heatmap.status_code == 200 and heatmap.headers["content-type"] == "image/jpeg"
    assert heatmap.content == (archive / stored.heatmap_path).read_bytes()
    assert heatmap.content[:3] == b"\xff\xd8\xff"
    assert image.headers["x-content-type-options"] == "nosniff"


def test_missing_things_are_404_with_a_message(make_client, store, archive, uid):
    part = _archived(store, archive, uid)
    store.write([inspection(f"{uid}-ok", f"{uid}-S2", T0, uid)])  # no image_path
    client = make_client(images_dir=archive)
    cases = [f"/inspections/{uid}-nope/image", f"/inspections/{uid}-ok/image",
             f"/inspections/{uid}-ok/heatmap"]
    (archive / store.get(part).image_path).unlink()  # deleted by retention
    cases.append(f"/inspections/{part}/image")
    for url in cases:
        response = client.get(url)
        assert response.status_code == 404 and response.json()["detail"], url
    no_archive = make_client().get(f"/inspections/{part}/heatmap")
    assert no_archive.status_code == 404 and "image archive" in no_archive.json()["detail"]


@pytest.mark.parametrize("stored", [
    "../../etc/passwd", "/etc/passwd", "../secret.jpg", "2024-05-01/NG/../../../secret.jpg",
    "..\\secret.jpg", "C:/secret.jpg", "/../secret.jpg", "", "link.jpg", "linkdir/secret.jpg",
    "2024-05-01/NG/p.jpg\x00.png",
])
def test_path_tricks_in_a_row_never_serve_the_file(make_client, store, archive, uid, stored):
    if "\x00" in stored and store.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL cannot store NUL in text")
    os.symlink(archive.parent.parent / "secret.jpg", archive / "link.jpg")
    os.symlink(archive.parent.parent, archive / "linkdir")
    row = replace(inspection(f"{uid}-evil", f"{uid}-S", T0, uid, Verdict.NG, "crack"),
                  image_path=stored, heatmap_path=stored)
    store.write([row])
    client = make_client(images_dir=archive)
    for kind in ("image", "heatmap"):
        response = client.get(f"/inspections/{uid}-evil/{kind}")
        assert response.status_code in (400, 404), (stored, response.status_code)
        assert SECRET not in response.content and b"root:" not in response.content


@pytest.mark.parametrize("url", ["/inspections/..%2F..%2Fetc%2Fpasswd/image",
                                 "/inspections/%2Fetc%2Fpasswd/heatmap",
                                 "/inspections/../../etc/passwd/image"])
def test_client_paths_are_never_files(make_client, archive, url):
    response = make_client(images_dir=archive).get(url)
    assert response.status_code == 404 and SECRET not in response.content
