"""Night views of generic photos: the scene darkened, lights of its own drawn in, the same for the same seed."""

from __future__ import annotations

import numpy as np
import skimage.data

from watchlists.night_lights import night_view

PHOTO = skimage.data.coffee()  # 400x600 RGB, daylight


def luminance(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def test_a_night_view_is_the_photo_darkened_with_bright_lights_drawn_in():
    views = [night_view(PHOTO, np.random.default_rng(seed)) for seed in range(8)]
    darker = [np.median(luminance(view)) / np.median(luminance(PHOTO)) for view in views]
    assert max(darker) < 0.9 and np.mean(darker) < 0.6  # night; a few views are rooms washed in coloured light
    for view in views:
        assert view.shape == PHOTO.shape and view.dtype == np.uint8
        assert (view.max(axis=2) >= 250).mean() > 0.003  # and some of it glows (a lamp's core, a neon stroke)
    warm = [view[..., 0].astype(int) - view[..., 2].astype(int) for view in views]
    assert np.mean([w[luminance(v) > 200].mean() for w, v in zip(warm, views, strict=True)]) > 0  # warm, mostly


def test_the_same_seed_draws_the_same_view_and_another_seed_another():
    first = night_view(PHOTO, np.random.default_rng(3))
    assert np.array_equal(first, night_view(PHOTO, np.random.default_rng(3)))
    assert not np.array_equal(first, night_view(PHOTO, np.random.default_rng(4)))
