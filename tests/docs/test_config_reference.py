"""docs/configuration.md is what scripts/gen_config_reference.py makes of the config models today."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"
COMMAND = "python scripts/gen_config_reference.py"


@pytest.fixture(scope="module")
def gen():
    return load_script("gen_config_reference")


def test_committed_reference_matches_the_models(gen):
    committed = REFERENCE.read_text(encoding="utf-8") if REFERENCE.exists() else ""
    fresh = gen.render()
    if committed != fresh:
        old, new = committed.splitlines(), fresh.splitlines()
        pairs = zip(old, new, strict=False)
        first = next((i for i, (o, n) in enumerate(pairs) if o != n), min(len(old), len(new)))
        pytest.fail(
            f"docs/configuration.md is out of date with the config models: run `{COMMAND}` and "
            f"commit docs/configuration.md (first difference at line {first + 1}: "
            f"{new[first] if first < len(new) else '(end)'!r})", pytrace=False)


def test_check_mode_reports_a_stale_file(gen, tmp_path, capsys):
    stale = tmp_path / "configuration.md"
    stale.write_text("# old\n", encoding="utf-8")
    assert gen.main(["--check", "--out", str(stale)]) == 1
    assert f"run `{COMMAND}`" in capsys.readouterr().err
    assert gen.main(["--out", str(stale)]) == 0
    assert gen.main(["--check", "--out", str(stale)]) == 0


def test_every_station_key_has_a_row(gen):
    from inspector.config import StationConfig

    text = gen.render()
    sections = text.split("\n## ")
    for name in StationConfig.model_fields:
        assert f"| `{name}` |" in sections[1], name   # the top-level table
    usb = next(s for s in sections if s.startswith("source (type: usb)"))
    assert "| `device` | integer or string | `0` |" in usb
    assert "| `type` | `usb` | **required** |" in usb
    model = next(s for s in sections if s.startswith("model\n"))
    assert "| `batch_max` | integer; ≥ 1, ≤ 256 | `2` |" in model


class _Leaf(BaseModel):
    """A nested section."""

    depth: float = Field(0.5, gt=0, le=1, description="How deep.")


class _A(BaseModel):
    type: Literal["a"] = Field(description="Variant a.")
    size: int = Field(3, ge=1, description="A size.")


class _B(BaseModel):
    type: Literal["b"] = Field(description="Variant b.")
    leaf: _Leaf = Field(default_factory=_Leaf, description="The leaf.")


class _Root(BaseModel):
    """The root."""

    name: str = Field(description="A required name.")
    tags: list[str] = Field(default_factory=lambda: ["x"], description="Some tags.")
    items: list[Annotated[_A | _B, Field(discriminator="type")]] = Field(
        default_factory=list, description="Items by type.")
    mode: Literal["fast", "safe"] | None = Field(None, description="A mode.")


def test_render_lists_types_defaults_limits_and_variants(gen):
    text = gen.render(_Root, env={"X_NAME": "name"})
    assert "- `X_NAME` sets `name`" in text
    assert "| `name` | string | **required** | A required name. |" in text
    assert '| `tags` | list of string | `["x"]` | Some tags. |' in text
    assert "| `mode` | `fast` or `safe` or null | `null` | A mode. |" in text
    assert "[`a`](#items-type-a), [`b`](#items-type-b)" in text
    assert "## items[] (type: a)\n\nVariant a." in text
    assert "| `size` | integer; ≥ 1 | `3` | A size. |" in text
    assert "## items[].leaf (items[] type: b)\n\nA nested section." in text
    assert "| `depth` | number; > 0, ≤ 1 | `0.5` | How deep. |" in text


def test_a_key_without_description_is_refused_by_name(gen):
    class Bare(BaseModel):
        ok: int = Field(1, description="Fine.")
        bare: int = 2

    with pytest.raises(gen.UndocumentedKeys, match="bare"):
        gen.render(Bare)
