"""Image preprocessing shared by the loaders: center crop, resize, grayscale inversion."""

from __future__ import annotations

import jax
import numpy as np


def center_crop(images: np.ndarray, crop: int) -> np.ndarray:
    """Center ``crop x crop`` window of ``[N, H, W, C]`` images (top/left offsets rounded down)."""
    _, height, width, _ = images.shape
    if crop > height or crop > width:
        raise ValueError(f"crop {crop} larger than images {height}x{width}")
    top, left = (height - crop) // 2, (width - crop) // 2
    return images[:, top : top + crop, left : left + crop, :]


def resize_uint8(images: np.ndarray, size: int) -> np.ndarray:
    """Resize ``uint8 [N, H, W, C]`` images to ``size x size`` with antialiased bilinear filtering.

    Uses ``jax.image.resize(method="linear", antialias=True)`` (PIL-free), then rounds to uint8.
    """
    n, _, _, channels = images.shape
    resized = jax.image.resize(
        np.asarray(images, np.float32), (n, size, size, channels), method="linear", antialias=True
    )
    return np.asarray(np.clip(np.rint(np.asarray(resized)), 0, 255), dtype=np.uint8)


def center_crop_and_resize(images: np.ndarray, crop: int = 140, size: int = 64) -> np.ndarray:
    """CelebA preprocessing of WAE / VIM: 140x140 center crop of the 218x178 image, resize to 64."""
    return resize_uint8(center_crop(images, crop), size)
