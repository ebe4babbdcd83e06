"""Safe decoding: damaged, empty, oversize and non-image files are refused with their reason."""

import cv2
import numpy as np
import pytest

from inspector.model.decode import BadImage, DecodeLimits, decode_file
from tests.conftest import SAMPLE
from tests.faults.inputs import damaged

SAMPLE_JPG = sorted(SAMPLE.glob("images/*/*.jpg"))[0]


def test_a_real_jpeg_decodes_exactly_as_opencv_does():
    np.testing.assert_array_equal(decode_file(SAMPLE_JPG), cv2.imread(str(SAMPLE_JPG), cv2.IMREAD_UNCHANGED))


@pytest.mark.parametrize("seed", range(8))
def test_damaged_jpeg_and_png_data_is_refused(tmp_path, seed):
    data = SAMPLE_JPG.read_bytes()
    (tmp_path / "d.jpg").write_bytes(damaged(data, seed))
    png = cv2.imencode(".png", cv2.imread(str(SAMPLE_JPG), cv2.IMREAD_GRAYSCALE))[1].tobytes()
    (tmp_path / "d.png").write_bytes(damaged(png, seed))
    with pytest.raises(BadImage, match="damaged JPEG"):
        decode_file(tmp_path / "d.jpg")
    with pytest.raises(BadImage, match=r"not a readable image|cannot decode"):
        decode_file(tmp_path / "d.png")


def test_truncated_empty_and_non_image_files_are_refused(tmp_path):
    (tmp_path / "t.jpg").write_bytes(SAMPLE_JPG.read_bytes()[:2000])
    (tmp_path / "e.png").write_bytes(b"")
    (tmp_path / "n.png").write_text("name,serial\nnot,an image\n")
    for name, reason in (("t.jpg", "damaged JPEG"), ("e.png", "empty file"), ("n.png", "not a readable")):
        with pytest.raises(BadImage, match=reason):
            decode_file(tmp_path / name)


def test_oversize_images_are_refused_from_the_header_and_the_file_size(tmp_path):
    cv2.imwrite(str(tmp_path / "big.png"), np.zeros((2000, 3000), np.uint8))
    with pytest.raises(BadImage, match="3000x2000 pixels"):
        decode_file(tmp_path / "big.png", DecodeLimits(max_pixels=1_000_000))
    with pytest.raises(BadImage, match="MB limit"):
        decode_file(tmp_path / "big.png", DecodeLimits(max_file_mb=0.001))
    assert decode_file(tmp_path / "big.png").shape == (2000, 3000)
