"""Fixtures of the fault suite: the pipeline tests' station factory and generated image folders."""

from tests.pipeline.conftest import image_folder, make_station  # noqa: F401 - fixtures, by name
