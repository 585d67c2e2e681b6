"""Ordinary scenes at night, lit by lamps, string lights and neon: negatives that fire and smoke heads must learn.

Fire heads trained on flames against daytime scenes pass anything dark with warm, glowing light: a red-lit bar, fairy
lights, a foggy park with street lamps, a neon sign (held-out stills: 4 of 89 such scenes alerted as fire). The
generic negative set has few night scenes, and none can be shipped for every kind of light. So they are drawn:
a generic photo darkened to night, then lamps (a bright core in a wide glow), a string of small lights along a
sagging curve, and neon strokes (a saturated line with its halo), in warm colours mostly and neon colours sometimes.
Flames differ in what these lack: their tongue shapes, flicker-torn edges, smoke and the light they throw on what
burns. Views are drawn from a seeded generator, as every training view is.
"""

from __future__ import annotations

import cv2
import numpy as np

WARM = np.array([[255, 150, 50], [255, 200, 110], [255, 90, 40], [255, 230, 170], [240, 60, 30]], np.float32)
NEON = np.array([[255, 40, 160], [60, 220, 255], [80, 255, 120], [180, 80, 255], [255, 40, 40]], np.float32)


def night_view(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (HxWx3 uint8 RGB) at night with lights of its own; the same size."""
    height, width = image.shape[:2]
    scene = image.astype(np.float32) * rng.uniform(0.12, 0.45)
    scene *= np.array([rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.2)], np.float32)
    light = np.zeros_like(scene)
    unit = min(height, width) / 480.0
    if rng.random() < 0.5:  # a room or a street washed in warm or coloured light from one side
        centre = _point(rng, width, height)
        ys, xs = np.mgrid[0:height, 0:width]
        spread = rng.uniform(0.3, 0.8) * max(height, width)
        wash = np.exp(-(((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / spread**2)).astype(np.float32)
        scene *= 1 + wash[:, :, None] * rng.uniform(0.3, 1.0)
        light += wash[:, :, None] * _colour(rng) * rng.uniform(0.15, 0.45)
    for _ in range(int(rng.integers(2, 12))):  # lamps
        _glow(light, _point(rng, width, height), rng.uniform(3, 14) * unit, _colour(rng), rng.uniform(0.6, 1.0), rng)
    if rng.random() < 0.6:  # a string of small lights
        start, end = _point(rng, width, height), _point(rng, width, height)
        sag = rng.uniform(0.05, 0.25) * height
        colour = _colour(rng)
        for t in np.linspace(0, 1, int(rng.integers(8, 40))):
            x = start[0] + (end[0] - start[0]) * t
            y = start[1] + (end[1] - start[1]) * t + sag * 4 * t * (1 - t)
            _glow(light, (int(x), int(y)), rng.uniform(1.5, 4) * unit, colour, rng.uniform(0.5, 1.0), rng)
    for _ in range(int(rng.integers(0, 3))):  # neon strokes: a sign's letters or frame, in one part of the view
        anchor = np.array(_point(rng, width, height), np.float32)
        reach = rng.uniform(0.05, 0.25) * max(height, width)
        steps = rng.uniform(-reach, reach, size=(int(rng.integers(2, 6)), 2))
        points = (anchor + steps).astype(np.int32)
        stroke = np.zeros((height, width), np.float32)
        cv2.polylines(stroke, [points], False, 1.0, max(1, int(rng.uniform(2, 6) * unit)), cv2.LINE_AA)
        colour = NEON[int(rng.integers(len(NEON)))] if rng.random() < 0.6 else _colour(rng)
        halo = cv2.GaussianBlur(stroke, (0, 0), rng.uniform(4, 12) * unit)
        light += (stroke[:, :, None] * 1.2 + halo[:, :, None] * 2.0) * colour
    return np.clip(scene + light, 0, 255).astype(np.uint8)


def _point(rng: np.random.Generator, width: int, height: int) -> tuple[int, int]:
    return int(rng.integers(0, width)), int(rng.integers(0, height))


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A warm colour mostly, a neon one sometimes."""
    palette = WARM if rng.random() < 0.8 else NEON
    return palette[int(rng.integers(len(palette)))]


def _glow(
    light: np.ndarray,
    centre: tuple[int, int],
    radius: float,
    colour: np.ndarray,
    strength: float,
    rng: np.random.Generator,
) -> None:
    """Adds a light: a near-white core of ``radius`` and a halo of ``colour`` a few radii wide."""
    height, width = light.shape[:2]
    reach = int(radius * rng.uniform(4, 10))
    x0, x1 = max(0, centre[0] - reach), min(width, centre[0] + reach + 1)
    y0, y1 = max(0, centre[1] - reach), min(height, centre[1] + reach + 1)
    if x1 <= x0 or y1 <= y0:
        return
    ys, xs = np.mgrid[y0:y1, x0:x1]
    distance = np.hypot(xs - centre[0], ys - centre[1]).astype(np.float32)
    core = np.clip(1.5 - distance / max(radius, 1.0), 0, 1)[:, :, None]
    halo = np.exp(-((distance / (reach / 2.5)) ** 2))[:, :, None]
    light[y0:y1, x0:x1] += strength * (core * (colour * 0.3 + 180) + halo * colour * 0.8)
