"""Image loading, path expansion and the cheap package import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

import perception
from perception import ImageReadError, UnsupportedFormatError, load_image
from perception._io import expand_paths


def test_load_image_converts_to_rgb(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("L", (5, 4), 128).save(path)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (5, 4)
    assert load_image(Image.new("RGBA", (2, 2))).mode == "RGB"


def test_load_image_errors_say_what_and_how(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(ImageReadError, match=r"bad\.png: cannot decode as an image.*corrupted"):
        load_image(bad)
    with pytest.raises(ImageReadError, match="is a directory"):
        load_image(tmp_path)
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(b"%PDF")
    with pytest.raises(UnsupportedFormatError, match=r"'\.pdf'; expected an image"):
        load_image(doc)
    assert isinstance(ImageReadError("x"), OSError)
    assert isinstance(UnsupportedFormatError("x"), ValueError)


def test_expand_paths_sorts_and_filters(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    for name in ["d/b.JPG", "d/a.png", "d/e/c.mp4", "d/skip.txt"]:
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in expand_paths([tmp_path / "d"])]
    assert found == ["d/a.png", "d/b.JPG", "d/e/c.mp4"]
    with pytest.raises(UnsupportedFormatError):
        list(expand_paths([tmp_path / "d" / "skip.txt"]))
    with pytest.raises(ImageReadError, match="no such file or directory"):
        list(expand_paths([tmp_path / "nope"]))


def test_public_surface_and_cheap_import() -> None:
    for name in perception.__all__:
        assert getattr(perception, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        perception.Nope  # noqa: B018
    code = "import sys, perception; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
