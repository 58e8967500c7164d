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
from keras_archs.applications._validation import KerasArguments
from tests.conftest import forward, lanes

V1_NAMES = ("ResNet50", "ResNet101", "ResNet152")
V2_NAMES = ("ResNet50V2", "ResNet101V2", "ResNet152V2")


@pytest.fixture(scope="module")
def v1(built):
    return built("ResNet50", include_top=False, input_shape=(64, 64, 3))


@pytest.fixture(scope="module")
def v2(built):
    return built("ResNet50V2", include_top=False, input_shape=(64, 64, 3))


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
        stem = name.lower()  # keras' WEIGHTS_HASHES key and file-name prefix
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
    arguments = KerasArguments(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg", name="tiny_resnet"
    )
    model = resnet.build_resnet(resnet.SPECS["ResNet50"], layout, arguments)
    assert model.name == "tiny_resnet" and model.output_shape == (None, 512)
    assert not any(conv.use_bias for conv in _convs(model))
    assert [layer.name for layer in model.layers if layer.name.endswith("_out")] == [
        f"conv{stage}_block1_out" for stage in (2, 3, 4, 5)
    ]


# ----- ResNet18 / ResNet34: basic blocks, torchvision layout ----------------------------------------------------------

BASIC_NAMES = ("ResNet18", "ResNet34")


@pytest.fixture(scope="module")
def resnet18(built):
    return built("ResNet18", include_top=False, input_shape=(64, 64, 3))


# torchvision resnet18 / resnet34 parameter counts (DESIGN.md); count_params() adds the BN moving statistics.
TORCHVISION_COUNTS = {"ResNet18": 11_689_512, "ResNet34": 21_797_672}


@pytest.mark.parametrize("name", lanes(BASIC_NAMES))
def test_basic_resnets_match_torchvision_parameter_counts(name, built):
    trainable = TORCHVISION_COUNTS[name]
    model = built(name)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == trainable
    norms = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    moving = sum(2 * layer.moving_mean.shape[0] for layer in norms)
    assert model.count_params() == trainable + moving == registry.get_spec(name).params
    assert model.name == name.lower() and model.output_shape == (None, 1000)


def test_basic_block_layout(resnet18):
    convs = _convs(resnet18)
    assert not any(conv.use_bias for conv in convs)
    # 1 stem + 8 blocks x 2 convs + 3 projections (conv2's first block keeps 64 channels at stride 1: identity).
    assert len(convs) == 20
    projections = [conv for conv in convs if conv.name.endswith("_0_conv")]
    assert [conv.name for conv in projections] == [f"conv{stage}_block1_0_conv" for stage in (3, 4, 5)]
    assert all(conv.kernel_size == (1, 1) and conv.strides == (2, 2) for conv in projections)
    for stage in (3, 4, 5):
        # The stride sits on the first 3x3 conv (torchvision), not on a 1x1 as in the v1 bottleneck, with Torch's
        # symmetric padding of 1 instead of Keras' bottom/right-only "same".
        first = resnet18.get_layer(f"conv{stage}_block1_1_conv")
        assert first.kernel_size == (3, 3) and first.strides == (2, 2) and first.padding == "valid"
        assert resnet18.get_layer(f"conv{stage}_block1_1_pad").padding == ((1, 1), (1, 1))
        assert resnet18.get_layer(f"conv{stage}_block1_2_conv").strides == (1, 1)
        assert isinstance(resnet18.get_layer(f"conv{stage}_block1_0_bn"), layers.BatchNormalization)


@pytest.mark.parametrize("name", lanes(BASIC_NAMES))
def test_basic_resnet_stage_shapes(name, built):
    model = built(name, include_top=False, input_shape=(64, 64, 3))
    shapes = {layer.name: layer.output.shape[1:] for layer in model.layers if layer.name.endswith("_out")}
    assert shapes == {
        f"conv{stage}_block{block}_out": (size, size, width)
        for stage, size, width, blocks in zip(
            (2, 3, 4, 5), (16, 8, 4, 2), resnet.STAGE_WIDTHS, resnet.DEPTHS[18 if name == "ResNet18" else 34]
        )
        for block in range(1, blocks + 1)
    }


def test_symmetric_padding_samples_like_torch():
    # A stride-2 3x3 conv of an all-ones kernel: Torch pads 1 on every side, so output (0, 0) sums rows/cols -1..1 of
    # the input (4 real pixels of a ones image); Keras' "same" would pad only bottom/right and sum 9.
    inputs = keras.Input((4, 4, 1))
    outputs = resnet.symmetric_conv_unit(inputs, 1, 3, stride=2, use_bias=False, norm=False, name="probe")
    probe = keras.Model(inputs, outputs)
    probe.get_layer("probe_conv").kernel.assign(np.ones((3, 3, 1, 1), "float32"))
    result = forward(probe, np.ones((1, 4, 4, 1), "float32"))[0, :, :, 0]
    np.testing.assert_array_equal(result, [[4.0, 6.0], [6.0, 9.0]])


@pytest.mark.parametrize("name", BASIC_NAMES)
def test_basic_resnets_registry_and_no_published_weights(name):
    spec = registry.get_spec(name)
    assert spec.preprocessing == "torch" and spec.family == "resnet" and spec.weights == ()
    assert spec.trainable_params is not None and spec.default_size == 224
    with pytest.raises(ValueError, match=rf"No 'imagenet' weights are published for {name}.*weights='imagenet'"):
        getattr(resnet, name)(weights="imagenet")


def test_torch_preprocessing_matches_keras():
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = keras.applications.imagenet_utils.preprocess_input(images.copy(), mode="torch")
    np.testing.assert_allclose(resnet.preprocess_input_torch(images.copy()), expected, rtol=1e-6)
