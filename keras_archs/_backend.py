"""Which Keras backend a job needs: compression and TFLite export run on TensorFlow only.

The model zoo, the weight loaders and ``keras_archs.compress.load`` work on every Keras 3 backend (TensorFlow, JAX,
PyTorch; tests/backends/). Deep Compression (masks and centroid training written with ``tf`` ops), QAT
(tensorflow-model-optimization) and TFLite conversion (``tf.lite``) trace the model as TensorFlow functions, so on
another backend they stop at once with :class:`UnsupportedBackendError` instead of failing deep inside.
"""

from __future__ import annotations

import os

__all__ = ["UnsupportedBackendError", "require_tensorflow"]


class UnsupportedBackendError(ValueError):
    """The job needs the TensorFlow Keras backend and this process runs another one."""


def require_tensorflow(job: str) -> None:
    """Raises :class:`UnsupportedBackendError` unless Keras runs on TensorFlow in this process.

    Args:
        job: What needs TensorFlow, for the message (e.g. ``"keras_archs.export.to_tflite"``).
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    raise UnsupportedBackendError(
        f"{job} needs the TensorFlow Keras backend; this process runs Keras on {backend!r} "
        f"(KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '')!r}, fixed when Keras is first imported). Run it in a "
        "process with KERAS_BACKEND=tensorflow (the default): save the model as .keras here and load it there. "
        "Loading models and archives (keras_archs.compress.load) works on every backend."
    )
