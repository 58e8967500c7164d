"""Export to deployment formats: TensorFlow Lite (``keras_archs.export.tflite``) with labels and a model card.

Example:
    >>> from keras_archs.export import to_tflite, verify_tflite  # doctest: +SKIP
"""

from keras_archs.export.tflite import *  # noqa: F401,F403  (the public names are tflite.__all__)
from keras_archs.export.tflite import __all__  # noqa: F401
