"""keras_archs: classic CNN architectures for Keras 3, keras.applications-compatible, with real weights."""

__version__ = "0.1.0"

from keras_archs import applications  # noqa: F401  (registers every model)
from keras_archs.registry import get_model, list_models  # noqa: F401
from keras_archs.applications.squeezenet import SqueezeNet  # noqa: F401
