"""ResNet-specific tests: what tells v1 from v2 (bias, strides, preprocessing) and the builder's block extension point.

Parity with keras.applications (layers, names, weights, messages) is in the registry-wide suite, test_models.py.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from keras_archs import registry
from keras_archs.applications import resnet

V1_NAMES = ("ResNet50", "ResNet101", "ResNet152")
V2_NAMES = ("ResNet50V2", "ResNet101V2", "ResNet152V2")


@pytest.fixture(scope="module")
def v1():
    return resnet.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))


@pytest.fixture(scope="module")
def v2():
    return resnet.ResNet50V2(weights=None, include_top=False, input_shape=(64, 64, 3))


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]


def test_v1_every_conv_has_a_bias_and_bn_follows_it(v1):
    assert all(conv.use_bias for conv in _convs(v1))
    bns = [layer for layer in v1.layers if isinstance(layer, layers.BatchNormalization)]
    assert len(bns) == len(_convs(v1)) == 53  # stem + 16 blocks x 3 + 4 projection shortcuts
    assert {bn.epsilon for bn in bns} == {1.001e-5}
    assert "post_bn" not in [layer.name for layer in v1.layers]


def test_v2_bias_only_where_no_bn_follows(v2):
    unbiased = {conv.name for conv in _convs(v2) if not conv.use_bias}
    assert unbiased == {
        f"conv{stage}_block{block}_{index}_conv"
        for stage, blocks in zip((2, 3, 4, 5), resnet.DEPTHS[50])
        for block in range(1, blocks + 1)
        for index in (1, 2)
    }
    assert v2.get_layer("conv1_conv").use_bias  # keras' v2 files keep the stem bias
    assert v2.layers[-2].name == "post_bn" and v2.layers[-1].name == "post_relu"
    assert "conv1_bn" not in [layer.name for layer in v2.layers]


def test_downsampling_sits_first_in_v1_and_last_in_v2(v1, v2):
    def width(model, layer_name):
        return model.get_layer(layer_name).output.shape[1]

    # 64x64 input, 16x16 after the stem. v1: conv3..conv5 halve in their first block.
    assert [width(v1, f"conv{s}_block1_out") for s in (2, 3, 4, 5)] == [16, 8, 4, 2]
    # v2: conv2..conv4 halve in their last block, conv5 keeps its input size.
    assert [width(v2, f"conv2_block{b}_out") for b in (1, 2, 3)] == [16, 16, 8]
    assert [width(v2, f"conv{s}_block1_out") for s in (3, 4, 5)] == [8, 4, 2]
    assert v2.output_shape == v1.output_shape == (None, 2, 2, 2048)
    # Identity shortcuts of the three strided v2 blocks subsample with an unnamed 1x1 max-pool, as in keras.
    pools = [layer for layer in v2.layers if isinstance(layer, layers.MaxPooling2D) and layer.name != "pool1_pool"]
    assert len(pools) == 3 and all(pool.pool_size == (1, 1) and pool.strides == (2, 2) for pool in pools)


@pytest.mark.parametrize(("names", "mode"), [(V1_NAMES, "caffe"), (V2_NAMES, "tf")])
def test_registry_preprocessing_and_keras_weight_files(names, mode):
    for name in names:
        spec = registry.get_spec(name)
        assert spec.preprocessing == mode and spec.family == "resnet"
        stem = resnet._MODELS[name].weights_name
        assert [(w.include_top, w.fname) for w in spec.weights] == [
            (True, f"{stem}_weights_tf_dim_ordering_tf_kernels.h5"),
            (False, f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        ]
        assert all(w.url == resnet.BASE_WEIGHTS_PATH + w.fname for w in spec.weights)


def test_v1_and_v2_preprocessing_match_keras_modules():
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(
        resnet.preprocess_input(images.copy()), keras.applications.resnet.preprocess_input(images.copy())
    )
    np.testing.assert_allclose(
        resnet.preprocess_input_v2(images.copy()), keras.applications.resnet_v2.preprocess_input(images.copy())
    )
    scaled = resnet.preprocess_input_v2(images.copy())
    assert scaled.min() >= -1.0 and scaled.max() <= 1.0


def _basic_block(x, filters, *, stride, conv_shortcut, use_bias, name):
    """A two-conv block (He et al. 2016a, Fig. 5 left) with the block signature the builder expects."""
    axis = 3
    shortcut = x
    if conv_shortcut and (stride > 1 or x.shape[axis] != filters):
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=use_bias, name=f"{name}_0_conv")(x)
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=use_bias, name=f"{name}_1_conv")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", use_bias=use_bias, name=f"{name}_2_conv")(x)
    return layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, x]))


def test_builder_takes_other_blocks_and_depths():
    layout = resnet.Layout(depths=(1, 1, 1, 1), block=_basic_block, preact=False, use_bias=False)
    model = resnet._resnet(
        "ResNet50", False, None, None, (32, 32, 3), "avg", 1000, "softmax", "tiny_resnet", layout=layout
    )
    assert model.name == "tiny_resnet" and model.output_shape == (None, 512)
    assert not any(conv.use_bias for conv in _convs(model))
    assert [layer.name for layer in model.layers if layer.name.endswith("_out")] == [
        f"conv{stage}_block1_out" for stage in (2, 3, 4, 5)
    ]
