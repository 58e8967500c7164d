"""keras_archs: classic CNN architectures for Keras 3, keras.applications-compatible, with real weights.

Example:
    >>> import keras_archs
    >>> model = keras_archs.SqueezeNet(weights=None)
    >>> model.count_params()
    1248424
"""

__version__ = "0.1.0"

from keras_archs.applications.alexnet import AlexNet
from keras_archs.applications.cifar_resnet import CifarResNet
from keras_archs.applications.googlenet import GoogLeNet, InceptionV1
from keras_archs.applications.inception_resnet_v2 import InceptionResNetV2
from keras_archs.applications.inception_v3 import InceptionV3
from keras_archs.applications.inception_v4 import InceptionV4
from keras_archs.applications.mobilenet import MobileNet
from keras_archs.applications.resnet import (
    ResNet18,
    ResNet34,
    ResNet50,
    ResNet50V2,
    ResNet101,
    ResNet101V2,
    ResNet152,
    ResNet152V2,
)
from keras_archs.applications.squeezenet import SqueezeNet
from keras_archs.applications.vgg import VGG16, VGG19
from keras_archs.applications.wide_resnet import WideResNet
from keras_archs.applications.xception import Xception
from keras_archs.registry import get_model, list_models

__all__ = [
    "AlexNet",
    "CifarResNet",
    "GoogLeNet",
    "InceptionV1",
    "InceptionResNetV2",
    "InceptionV3",
    "InceptionV4",
    "MobileNet",
    "ResNet18",
    "ResNet34",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
    "SqueezeNet",
    "VGG16",
    "VGG19",
    "WideResNet",
    "Xception",
    "get_model",
    "list_models",
]
