"""What every dataset shares: in-graph normalisation (parity with preprocess_input), argument checks, sharding,
seeded determinism, tf.distribute input contexts."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import tensorflow as tf

from keras_archs import imagenet_utils
from keras_archs.data import fashion_mnist, for_input_context, pipeline, preprocess

COUNT = 23


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A Fashion-MNIST-format train split whose label i is i % 10 and whose pixels encode the example index."""
    root = tmp_path_factory.mktemp("pipeline")
    images = np.zeros((COUNT, 28, 28), np.uint8)
    images[:, 0, 0] = np.arange(COUNT)
    for stem, magic, array in (
        ("train-images-idx3-ubyte.gz", 0x803, images),
        ("train-labels-idx1-ubyte.gz", 0x801, np.arange(COUNT) % 10),
    ):
        with gzip.open(root / stem, "wb") as stream:
            stream.write(np.array([magic, *array.shape], ">u4").tobytes() + array.astype(np.uint8).tobytes())
    return root


def _indices(ds):
    return [int(i) for images, _ in ds for i in images.numpy()[:, 0, 0, 0]]


@pytest.mark.parametrize(
    "mode, keras_kwargs",
    [
        ("caffe", {"mode": "caffe"}),
        ("tf", {"mode": "tf"}),
        ("torch", {"mode": "torch"}),
        ("squeezenet_caffe", {"mode": "caffe", "mean": (104, 117, 123)}),
    ],
)
def test_preprocess_matches_preprocess_input(mode, keras_kwargs):
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 5, 5, 3)).astype(np.float32)
    expected = imagenet_utils.preprocess_input(images.copy(), data_format="channels_last", **keras_kwargs)
    np.testing.assert_allclose(preprocess(tf.constant(images), mode).numpy(), expected, rtol=1e-5, atol=1e-4)
    inside = tf.data.Dataset.from_tensors(images).map(lambda x: preprocess(x, mode))
    np.testing.assert_allclose(next(iter(inside)).numpy(), expected, rtol=1e-5, atol=1e-4)


def test_preprocess_rejects_unknown_mode():
    with pytest.raises(ValueError, match=r"Expected `mode` to be one of caffe, squeezenet_caffe, tf, torch or None"):
        preprocess(tf.zeros([1, 3]), "bgr")


def test_model_input_reads_the_registry():
    assert pipeline.model_input("ResNet50", None) == (224, "caffe")
    assert pipeline.model_input("squeezenet", None) == (227, "squeezenet_caffe")  # alias of SqueezeNet1_0
    assert pipeline.model_input("InceptionV3", 128) == (128, "tf")
    assert pipeline.model_input(None, None) == (None, None)
    with pytest.raises(ValueError, match="Unknown model name 'NoSuchNet'"):
        pipeline.model_input("NoSuchNet", None)
    with pytest.raises(TypeError, match="for_model"):
        pipeline.model_input(50, None)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"batch_size": 0}, ValueError, r"Expected `batch_size` to be an integer >= 1. Received: batch_size=0"),
        ({"batch_size": True}, ValueError, r"batch_size=True"),
        ({"num_shards": 2, "shard_index": 2}, ValueError, r"shard_index=2, num_shards=2"),
        ({"shuffle": "yes"}, TypeError, r"Expected `shuffle` to be True or False \(or None\). Received: shuffle='yes'"),
        ({"seed": 1.5}, TypeError, r"Received: seed=1.5"),
        ({"image_size": -1}, ValueError, r"image_size=-1"),
        ({"augment": 1}, TypeError, r"Expected `augment` to be True or False. Received: augment=1"),
    ],
)
def test_argument_errors(data_dir, kwargs, error, message):
    with pytest.raises(error, match=message):
        fashion_mnist("train", data_dir=data_dir, **kwargs)


def test_split_error_names_the_accepted_values(data_dir):
    with pytest.raises(
        ValueError,
        match=r"Expected `split` to be one of 'train', 'test', 'validation', 'train_without_validation'. "
        r"Received: split='val'",
    ):
        fashion_mnist("val", data_dir=data_dir)


@pytest.mark.parametrize("num_shards", [2, 3, 5])
def test_shards_partition_the_data(data_dir, num_shards):
    parts = [
        _indices(
            fashion_mnist("train", batch_size=4, shuffle=True, num_shards=num_shards, shard_index=i, data_dir=data_dir)
        )
        for i in range(num_shards)
    ]  # unseeded shuffles: the partition must not depend on the order
    assert sorted(sum(parts, [])) == list(range(COUNT))
    assert all(len(part) in (COUNT // num_shards, COUNT // num_shards + 1) for part in parts)


def test_seeded_pipelines_are_reproducible_and_reshuffle_each_epoch(data_dir):
    kwargs = dict(batch_size=COUNT, augment=True, seed=11, data_dir=data_dir)
    first, second = fashion_mnist("train", **kwargs), fashion_mnist("train", **kwargs)
    epochs_a = [next(iter(first))[0].numpy() for _ in range(2)]
    epochs_b = [next(iter(second))[0].numpy() for _ in range(2)]
    np.testing.assert_array_equal(epochs_a[0], epochs_b[0])
    np.testing.assert_array_equal(epochs_a[1], epochs_b[1])
    assert not np.array_equal(epochs_a[0], epochs_a[1])  # a new order and new augmentation each epoch
    other = next(iter(fashion_mnist("train", **{**kwargs, "seed": 12})))[0].numpy()
    assert not np.array_equal(epochs_a[0], other)


def test_shuffle_defaults(data_dir):
    assert _indices(fashion_mnist("train", batch_size=8, shuffle=False, data_dir=data_dir)) == list(range(COUNT))
    assert _indices(fashion_mnist("train", batch_size=8, seed=0, data_dir=data_dir)) != list(range(COUNT))


def test_for_input_context():
    ctx = tf.distribute.InputContext(num_input_pipelines=4, input_pipeline_id=3, num_replicas_in_sync=8)
    assert for_input_context(ctx) == {"num_shards": 4, "shard_index": 3}
    assert for_input_context(ctx, global_batch_size=256) == {"num_shards": 4, "shard_index": 3, "batch_size": 32}
    with pytest.raises(TypeError, match="input_context"):
        for_input_context({"num_input_pipelines": 4})


def test_distribute_datasets_from_function(data_dir):
    strategy = tf.distribute.get_strategy()  # the default strategy: one input pipeline

    def dataset_fn(ctx):
        return fashion_mnist("train", seed=0, data_dir=data_dir, **for_input_context(ctx, global_batch_size=8))

    dist = strategy.distribute_datasets_from_function(dataset_fn)
    images, labels = next(iter(dist))
    assert tuple(images.shape) == (8, 28, 28, 1) and tuple(labels.shape) == (8,)


def test_data_depends_only_downward():
    # data/ may use the model specs (through applications' look-ups), imagenet_utils, the class names and the atomic
    # writer: nothing
    # above it (compress, export, train, cli, demo), no family module, and no private name of another module.
    import ast
    import pathlib

    modules = {
        "keras_archs.applications",
        "keras_archs.registry",
        "keras_archs.imagenet_utils",
        "keras_archs._files",
        "keras_archs.class_names",
    }
    lookups = {f"keras_archs.applications.{name}" for name in ("get_spec", "list_models", "get_model", "all_specs")}
    public = ("keras_archs.imagenet_utils.", "keras_archs._files.", "keras_archs.registry.", "keras_archs.class_names.")
    package = pathlib.Path(pipeline.__file__).parent
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("keras_archs"):
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.startswith("keras_archs")]
            else:
                continue
            for target in targets:
                name = target.rsplit(".", 1)[-1]
                allowed = (
                    target.startswith("keras_archs.data.")
                    or target in modules
                    or target in lookups
                    or (target.startswith(public) and not name.startswith("_"))
                )
                assert allowed, f"{path.name} imports {target}"
