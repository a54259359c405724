#!/usr/bin/env python3
"""Draw the integration's brand images into custom_components/alphaess_local/brand/.

Home Assistant 2026.10 shows a custom integration's own ``brand/`` images. These are
our own drawing (a battery struck by a lightning bolt), not the vendor's logo, so they
can ship with the integration. Sizes follow the home-assistant/brands rules: icon
256 x 256 (512 for @2x), logo with its shortest side 256 (512), PNG with transparency,
trimmed to the drawing. The logo carries dark text, so dark_logo variants with light
text exist for dark themes; the icon reads on both.

Every shape is drawn at four times the size and reduced, for smooth edges without a
vector renderer. The output depends only on this file and the Pillow version (its
bundled font), so rerunning it reproduces the committed files byte for byte:

    .venv/bin/python scripts/brand.py [output directory]
"""

from __future__ import annotations

from pathlib import Path
import sys

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
BRAND = ROOT / "custom_components" / "alphaess_local" / "brand"

SUPERSAMPLE = 4
CLEAR = (0, 0, 0, 0)
BLUE = (2, 136, 209, 255)
GREEN = (67, 160, 71, 255)
AMBER = (255, 179, 0, 255)
RGBA = tuple[int, int, int, int]
# The name's two words on a light background, and on a dark one.
ON_LIGHT: tuple[RGBA, RGBA] = ((33, 33, 33, 255), BLUE)
ON_DARK: tuple[RGBA, RGBA] = ((238, 238, 238, 255), (79, 195, 247, 255))
NAME = ("AlphaESS", " Local")

# The icon in unit coordinates: a battery lying on its side, touching the left and
# right edges, and a bolt through it touching the top and bottom ones (trimmed).
BODY = (0.0, 0.22, 0.88, 0.78)
BODY_RADIUS = 0.11
STROKE = 0.075
TERMINAL = (0.895, 0.38, 1.0, 0.62)
CHARGE = (0.125, 0.345, 0.55, 0.655)
BOLT = (
    (0.56, 0.0),
    (0.27, 0.55),
    (0.455, 0.55),
    (0.37, 1.0),
    (0.71, 0.42),
    (0.52, 0.42),
    (0.68, 0.0),
)
# Clear space around the bolt where it crosses the battery, so the shapes stay apart.
BOLT_GAP = 0.035


def _box(box: tuple[float, float, float, float], size: int) -> list[float]:
    return [v * size for v in box]


def draw_icon(size: int) -> Image.Image:
    """The icon at ``size`` x ``size`` pixels."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), CLEAR)
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        _box(BODY, big),
        radius=BODY_RADIUS * big,
        outline=BLUE,
        width=round(STROKE * big),
    )
    draw.rounded_rectangle(_box(TERMINAL, big), radius=0.035 * big, fill=BLUE)
    draw.rounded_rectangle(_box(CHARGE, big), radius=0.04 * big, fill=GREEN)
    bolt = [(x * big, y * big) for x, y in BOLT]
    # Drawing writes pixels as given (no blending): CLEAR erases the gap.
    gap = BOLT_GAP * big
    for start, end in zip(bolt, [*bolt[1:], bolt[0]], strict=True):
        draw.line([start, end], fill=CLEAR, width=round(2 * gap))
    for x, y in bolt:
        draw.ellipse([x - gap, y - gap, x + gap, y + gap], fill=CLEAR)
    draw.polygon(bolt, fill=AMBER)
    return _reduce(image)


def draw_logo(height: int, colours: tuple[RGBA, RGBA]) -> Image.Image:
    """The icon followed by the name, ``height`` pixels high, trimmed on the right."""
    big = height * SUPERSAMPLE
    font = ImageFont.load_default(size=0.42 * big)
    first, second = NAME
    left, top, right, bottom = font.getbbox(first + second)
    gap = round(0.14 * big)
    image = Image.new("RGBA", (big + gap + round(right - left), big), CLEAR)
    draw = ImageDraw.Draw(image)
    x = big + gap - left
    y = (big - (bottom - top)) / 2 - top
    draw.text((x, y), first, font=font, fill=colours[0])
    draw.text((x + font.getlength(first), y), second, font=font, fill=colours[1])
    logo = _reduce(image)
    logo.paste(draw_icon(height), (0, 0))
    return _trim(logo)


def _reduce(image: Image.Image) -> Image.Image:
    """Average supersampled pixels with premultiplied alpha (no dark fringes)."""
    return image.convert("RGBa").reduce(SUPERSAMPLE).convert("RGBA")


def _trim(image: Image.Image) -> Image.Image:
    box = image.getchannel("A").getbbox()
    return image.crop(box) if box else image


def images() -> dict[str, Image.Image]:
    """Every file name with its image."""
    return {
        "icon.png": draw_icon(256),
        "icon@2x.png": draw_icon(512),
        "logo.png": draw_logo(256, ON_LIGHT),
        "logo@2x.png": draw_logo(512, ON_LIGHT),
        "dark_logo.png": draw_logo(256, ON_DARK),
        "dark_logo@2x.png": draw_logo(512, ON_DARK),
    }


def main(argv: list[str]) -> int:
    """Write the images (to ``argv[1]`` if given) and list them."""
    target = Path(argv[1]) if len(argv) > 1 else BRAND
    target.mkdir(parents=True, exist_ok=True)
    for name, image in images().items():
        path = target / name
        image.save(path, "PNG", optimize=True)
        print(f"{path}: {image.width}x{image.height}, {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
