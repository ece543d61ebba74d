"""Image parameterizations: what the optimizer actually changes.

``"fourier"`` (Lucid): the image is the inverse FFT of a spectrum whose entries are scaled by
``1 / frequency``; Adam steps of equal size then move low frequencies as much as high ones in
image space, which removes the high-frequency noise of pixel-space optimization. ``"pixel"``:
one variable per pixel. Both end in a sigmoid (values in (0, 1)); 3-channel images are first
mapped through a fixed colour-decorrelation matrix, so the optimizer moves along directions
in which natural colours vary independently.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "COLOR_CORRELATION_SQRT",
    "fourier_scale",
    "ImageParam",
    "PARAMS",
]

# Square root of the colour covariance of ImageNet pixels (RGB), the matrix Lucid published.
# Multiplying decorrelated values by it gives correlated RGB values.
COLOR_CORRELATION_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
# Normalized so no column stretches a unit vector: the sigmoid sees comparable scales.
_COLOR_MIX = (COLOR_CORRELATION_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SQRT, axis=0))).T

PARAMS = ("fourier", "pixel")


def fourier_scale(height: int, width: int, decay_power: float = 1.0) -> np.ndarray:
    """Per-frequency scale ``1 / max(f, 1/max(H, W)) ** decay_power`` of an rfft2d spectrum.

    Returns:
        ``(H, W // 2 + 1)`` float32 array.
    """
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    return (1.0 / np.maximum(freqs, 1.0 / max(height, width)) ** decay_power).astype(np.float32)


class ImageParam:
    """Trainable variable(s) that render ``n`` images ``(H, W, C)`` in (0, 1).

    Args:
        n: number of images.
        size: ``(H, W)``.
        channels: image channels; colour decorrelation applies to 3 only.
        kind: ``"fourier"`` or ``"pixel"``.
        decorrelate: map 3-channel values through the colour-correlation matrix.
        std: standard deviation of the random initialization.
        decay_power: exponent of the ``1/f`` spectrum scaling (Fourier only).
    """

    def __init__(
        self,
        n: int,
        size: tuple[int, int],
        channels: int,
        kind: str = "fourier",
        decorrelate: bool = True,
        std: float = 0.01,
        decay_power: float = 1.0,
    ):
        self.n, (self.height, self.width), self.channels = n, size, channels
        self.kind = kind
        self.decorrelate = bool(decorrelate) and channels == 3
        self.std = std
        h, w = self.height, self.width
        if kind == "fourier":
            self.shape = (n, channels, h, w // 2 + 1, 2)
            # sqrt(H*W) makes the inverse FFT orthonormal, so pixel magnitudes do not depend
            # on the image size; /4 is Lucid's empirical damping of the initial contrast.
            scale = fourier_scale(h, w, decay_power) * np.sqrt(h * w) / 4.0
            self._scale = tf.constant(scale.astype(np.complex64))
        else:
            self.shape = (n, h, w, channels)
        self.variable = keras.Variable(
            np.zeros(self.shape, np.float32), dtype="float32", trainable=True, name="fv_param"
        )

    def initial_value(self, seed: int) -> np.ndarray:
        """Random start, reproducible from ``seed``."""
        rng = np.random.default_rng(seed)
        return (rng.standard_normal(self.shape) * self.std).astype(np.float32)

    def reset(self, seed: int) -> None:
        self.variable.assign(self.initial_value(seed))

    def raw(self) -> tf.Tensor:
        """Unbounded image values ``(n, H, W, C)`` before the colour mix and the sigmoid."""
        v = tf.convert_to_tensor(self.variable)
        if self.kind == "pixel":
            return v
        spectrum = tf.complex(v[..., 0], v[..., 1]) * self._scale
        image = tf.signal.irfft2d(spectrum, fft_length=[self.height, self.width])
        return tf.transpose(image, [0, 2, 3, 1])

    def images(self) -> tf.Tensor:
        """The images ``(n, H, W, C)`` in (0, 1)."""
        t = self.raw()
        if self.decorrelate:
            t = tf.tensordot(t, tf.constant(_COLOR_MIX), axes=[[3], [0]])
        return tf.sigmoid(t)
