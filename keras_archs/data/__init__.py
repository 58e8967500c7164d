"""Input pipelines: ``tf.data.Dataset``s of ``(images, labels)`` batches with each paper's preprocessing.

* :func:`fashion_mnist` (Debian's files, the Keras cache, or tfds), :func:`cifar10` / :func:`cifar100` (binary or
  python tarballs, or tfds), :func:`imagenet` (TFRecord shards or tfds ``imagenet2012``).
* ``for_model="ResNet50"`` takes the input size and normalisation mode from the model's registry spec
  (``keras_archs.data.preprocessing`` implements the modes); ``augment=True`` applies
  the paper's training augmentation (``keras_archs.data.augment``); ``erasing=True`` adds random erasing.
* ``num_shards`` / ``shard_index`` split the data among input pipelines; :func:`for_input_context` derives them from
  a ``tf.distribute.InputContext`` (``strategy.distribute_datasets_from_function``).
* Missing data raises one :class:`DatasetNotFoundError` listing every place looked; unreadable files raise
  :class:`DatasetCorruptError`.

Example:
    >>> import keras_archs.data
    >>> ds = keras_archs.data.fashion_mnist("train", batch_size=64, augment=True, seed=0)  # doctest: +SKIP
    >>> images, labels = next(iter(ds))  # doctest: +SKIP
    >>> images.shape, labels.shape  # doctest: +SKIP
    (TensorShape([64, 28, 28, 1]), TensorShape([64]))
"""

from keras_archs.data import augment, multicrop, preprocessing
from keras_archs.data.cifar import cifar10, cifar100
from keras_archs.data.fashion_mnist import fashion_mnist
from keras_archs.data.imagenet import imagenet
from keras_archs.data.pipeline import for_input_context
from keras_archs.data.preprocessing import preprocess
from keras_archs.data.sources import DatasetCorruptError, DatasetNotFoundError

__all__ = [
    "DatasetCorruptError",
    "DatasetNotFoundError",
    "augment",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "for_input_context",
    "imagenet",
    "multicrop",
    "preprocess",
    "preprocessing",
]
