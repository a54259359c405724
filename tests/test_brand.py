"""The brand images meet home-assistant/brands' rules and match their generator.

Home Assistant shows a custom integration's ``brand/`` images as they are: a wrong size
is scaled blurry, and an untrimmed margin makes the picture look smaller than its
neighbours'.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from PIL import Image, ImageChops
import pytest

ROOT = Path(__file__).parent.parent
BRAND = ROOT / "custom_components" / "alphaess_local" / "brand"
GENERATOR = ROOT / "scripts" / "brand.py"

# Name: (exact width or None, height). Icons are square; a logo's shortest side is its
# height, the longest as the drawing needs.
FILES = {
    "icon.png": (256, 256),
    "icon@2x.png": (512, 512),
    "logo.png": (None, 256),
    "logo@2x.png": (None, 512),
    "dark_logo.png": (None, 256),
    "dark_logo@2x.png": (None, 512),
}
MAX_BYTES = 100_000
# Antialiased edges fade out; the drawing may stop this many pixels short of an edge.
TRIM_TOLERANCE = 2


def test_brand_folder_holds_exactly_the_expected_files() -> None:
    assert sorted(p.name for p in BRAND.iterdir()) == sorted(FILES)


@pytest.mark.parametrize("name", sorted(FILES))
def test_image_meets_the_brands_rules(name: str) -> None:
    path = BRAND / name
    assert path.stat().st_size < MAX_BYTES
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        width, height = FILES[name]
        assert image.height == height
        assert image.width == (width or image.width)
        assert image.width >= image.height  # square or landscape
        alpha = image.getchannel("A")
        # Transparent background: the corners and some of the rest are see-through.
        corners = [(0, 0), (image.width - 1, 0), (0, image.height - 1)]
        assert all(alpha.getpixel(xy) == 0 for xy in corners)
        assert alpha.getextrema() == (0, 255)
        # Trimmed: the drawing reaches every edge.
        box = alpha.getbbox()
        assert box is not None
        left, top, right, bottom = box
        assert left <= TRIM_TOLERANCE
        assert top <= TRIM_TOLERANCE
        assert image.width - right <= TRIM_TOLERANCE
        assert image.height - bottom <= TRIM_TOLERANCE


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("brand_generator", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_committed_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _generator().main(["brand.py", str(tmp_path)]) == 0
    capsys.readouterr()
    for name in FILES:
        # Pixels, not bytes: zlib and Pillow versions compress (and anti-alias text)
        # a little differently, and the committed images must still be what it draws.
        with Image.open(tmp_path / name) as drawn, Image.open(BRAND / name) as kept:
            assert (drawn.size, drawn.mode) == (kept.size, kept.mode), name
            delta = ImageChops.difference(drawn, kept).split()
            most = delta[0]
            for band in delta[1:]:
                most = ImageChops.lighter(most, band)
            unchanged = most.histogram()[0]
        total = kept.size[0] * kept.size[1]
        assert total - unchanged <= total // 100, name
