"""keras_archs: classic CNN architectures for Keras 3, keras.applications-compatible, with real weights.

Example:
    >>> import keras_archs
    >>> model = keras_archs.SqueezeNet(weights=None)
    >>> model.count_params()
    1248424
"""

__version__ = "0.1.0"

from keras_archs.applications.inception_resnet_v2 import InceptionResNetV2
from keras_archs.applications.inception_v3 import InceptionV3
from keras_archs.applications.mobilenet import MobileNet
from keras_archs.applications.resnet import ResNet50, ResNet50V2, ResNet101, ResNet101V2, ResNet152, ResNet152V2
from keras_archs.applications.squeezenet import SqueezeNet
from keras_archs.applications.vgg import VGG16, VGG19
from keras_archs.applications.xception import Xception
from keras_archs.registry import get_model, list_models

__all__ = [
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
    "SqueezeNet",
    "VGG16",
    "VGG19",
    "Xception",
    "get_model",
    "list_models",
]
