"""The report as a browser shows it: headless Chromium (Debian's ``chromium``
package) screenshots the page twice, as written and with its charts hidden by
one CSS rule (same layout), and the difference must be the charts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

WIDTH, HEIGHT = 1200, 9000
BLUE = (31, 119, 180)  # matplotlib's first colour: every line chart and bar chart uses it
ORANGE = (255, 127, 14)  # the second: the second policy's bars, the second run's line


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("headless Chromium is needed for this test: apt-get install -y chromium")
    return exe


def _screenshot(page: Path, out: Path, profile: Path) -> None:
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        "--force-device-scale-factor=1", f"--user-data-dir={profile}", f"--screenshot={out}",
        f"--window-size={WIDTH},{HEIGHT}", page.resolve().as_uri(),
    ]
    env = {**os.environ, "HOME": str(profile)}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert res.returncode == 0 and out.is_file(), res.stderr[-2000:]


def _count(pixels, color, tol=14) -> int:
    return int((np.abs(pixels - np.array(color, dtype=np.int16)) <= tol).all(axis=2).sum())


@pytest.mark.slow
def test_screenshot_shows_the_plots(written, tmp_path):
    from PIL import Image

    _, page, text, found = written
    n_images = text.count('<img class="plot')
    assert n_images >= 8
    shown = tmp_path / "with-plots.html"
    hidden = tmp_path / "without-plots.html"
    shown.write_text(text, encoding="utf-8")
    hidden.write_text(text.replace("</style>", "img.plot{visibility:hidden}</style>", 1), encoding="utf-8")
    _screenshot(shown, tmp_path / "with.png", tmp_path / "profile")
    _screenshot(hidden, tmp_path / "without.png", tmp_path / "profile")

    with Image.open(tmp_path / "with.png") as im_a, Image.open(tmp_path / "without.png") as im_b:
        assert im_a.size == im_b.size == (WIDTH, HEIGHT)
        a = np.asarray(im_a.convert("RGB"), dtype=np.int16)
        b = np.asarray(im_b.convert("RGB"), dtype=np.int16)
    # the page is not blank
    assert (a != 255).any(axis=2).mean() > 0.03
    # the charts are what differs between the two renders, and they are large
    changed = np.abs(a - b).max(axis=2) > 40
    assert changed.sum() > 4000 * n_images, (int(changed.sum()), n_images)
    # ...drawn in the charts' colours, which nothing else on the page uses
    blue_a, blue_b, orange_a = _count(a, BLUE), _count(b, BLUE), _count(a, ORANGE)
    assert blue_a > 20_000 and blue_b < 0.01 * blue_a, (blue_a, blue_b)
    assert orange_a > 2_000, orange_a
    # ...and spread down the page: every section with charts shows them
    rows_changed = changed.any(axis=1)
    bands = rows_changed[: HEIGHT // 250 * 250].reshape(-1, 250).any(axis=1)
    assert bands.sum() >= 6, bands
