"""CIFAR ResNets: parameter counts against He et al. 2016a/2016b, option A vs B shortcuts, the plain twins, stage
shapes, the pre-activation bottleneck layout and argument validation.

Build, output shapes, pooling and the ``.keras`` round trip of every preset are in the registry-wide suite
(test_models.py); ResNet-1202 and ResNet-1001 take 10-20 s a build, so their tests here are marked slow.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest
from keras import layers

from keras_archs import registry
from keras_archs.applications import cifar_resnet
from keras_archs.applications.cifar_resnet import CifarResNet, ZeroPaddedIdentity
from tests.conftest import forward, lanes


def trainable(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]


# He et al. 2016a, Table 6 ("# params" column) and the exact trainable counts for 20/56/110; He et al. 2016b:
# ResNet-164 has 1.7M parameters. Presets deeper than conftest.DEFAULT_LANE_MAX_LAYERS run in the slow lane.
PAPER_COUNTS = {
    "CifarResNet20": (269_722, 0.27),
    "CifarResNet32": (None, 0.46),
    "CifarResNet44": (None, 0.66),
    "CifarResNet56": (853_018, 0.85),
    "CifarResNet110": (1_727_962, 1.7),
    "CifarPreActResNet164": (None, 1.7),
}


@pytest.mark.parametrize("name", lanes(list(PAPER_COUNTS)))
def test_preset_parameter_counts_match_the_papers(name, built):
    exact, paper_millions = PAPER_COUNTS[name]
    model = built(name)
    count = trainable(model)
    if exact is not None:
        assert count == exact
    digits = 1 if paper_millions >= 1 else 2
    assert round(count / 1e6, digits) == paper_millions
    spec = registry.get_spec(name)
    assert (spec.trainable_params, spec.params) == (count, model.count_params())
    preset = spec.build_kwargs
    assert model.name == cifar_resnet.default_name(preset["depth"], preset["block"], preset["preact"], preset["plain"])
    assert model.output_shape == (None, 10)


def test_option_a_has_no_shortcut_parameters_and_plain_twin_has_the_same(built):
    residual = built("CifarResNet20")
    plain = CifarResNet(20, plain=True)
    assert not [conv for conv in _convs(residual) if conv.name.endswith("_0_conv")]
    pads = [layer for layer in residual.layers if isinstance(layer, ZeroPaddedIdentity)]
    assert [layer.name for layer in pads] == ["conv3_block1_0_pad", "conv4_block1_0_pad"]
    assert all(not layer.weights for layer in pads)
    # "our residual models have exactly the same depth, width, and number of parameters as the plain counterparts"
    # (He et al. 2016a, Sec. 4.2).
    assert trainable(plain) == trainable(residual) and plain.count_params() == residual.count_params()
    assert len(_convs(plain)) == len(_convs(residual)) == 19  # 6n + 1 convs and the fc: 20 weighted layers
    assert not any(isinstance(layer, layers.Add) for layer in plain.layers)
    assert sum(isinstance(layer, layers.Add) for layer in residual.layers) == 9  # 3n shortcuts
    assert plain.name == "cifar_plain20"


def test_option_b_adds_exactly_the_projections(built):
    option_a, option_b = built("CifarResNet20"), CifarResNet(20, shortcut="B")
    projections = [conv for conv in _convs(option_b) if conv.name.endswith("_0_conv")]
    assert [conv.name for conv in projections] == ["conv3_block1_0_conv", "conv4_block1_0_conv"]
    # 1x1 convs 16->32 and 32->64 plus their BN scale/offset (post-activation option B: conv + BN).
    assert trainable(option_b) - trainable(option_a) == 16 * 32 + 32 * 64 + 2 * (32 + 64)
    assert not any(isinstance(layer, ZeroPaddedIdentity) for layer in option_b.layers)


@pytest.mark.parametrize(
    ("kwargs", "widths"),
    [
        (dict(depth=20), (16, 32, 64)),
        (dict(depth=20, preact=True), (16, 32, 64)),
        (dict(depth=29, block="bottleneck"), (64, 128, 256)),
        (dict(depth=29, block="bottleneck", preact=True, shortcut="B"), (64, 128, 256)),
    ],
)
def test_stage_shapes(kwargs, widths):
    model = CifarResNet(**kwargs, include_top=False)
    assert model.input_shape == (None, None, None, 3)
    model = CifarResNet(**kwargs, include_top=False, input_shape=(32, 32, 3))
    outputs = {layer.name: layer.output.shape[1:] for layer in model.layers if layer.name.endswith("_out")}
    assert outputs == {
        f"conv{stage}_block{block}_out": (size, size, width)
        for stage, size, width in zip((2, 3, 4), (32, 16, 8), widths)
        for block in (1, 2, 3)
    }
    assert model.output_shape == (None, 8, 8, widths[-1])


def test_plain_stage_shapes():
    model = CifarResNet(20, plain=True, include_top=False, input_shape=(32, 32, 3))
    assert [model.get_layer(f"conv{stage}_block3_out").output.shape[1:] for stage in (2, 3, 4)] == [
        (32, 32, 16),
        (16, 16, 32),
        (8, 8, 64),
    ]


def test_post_activation_basic_layout():
    model = CifarResNet(20, include_top=False, input_shape=(32, 32, 3))
    assert not any(conv.use_bias for conv in _convs(model))
    assert model.get_layer("conv1_conv").kernel_size == (3, 3) and model.get_layer("conv1_conv").filters == 16
    assert isinstance(model.get_layer("conv1_bn"), layers.BatchNormalization)
    # Subsampling by the first 3x3 conv of conv3/conv4 (He et al. 2016a, Sec. 4.2), padded symmetrically so it is
    # centred on the pixels the option-A shortcut keeps.
    for stage in (3, 4):
        assert model.get_layer(f"conv{stage}_block1_1_conv").strides == (2, 2)
        assert model.get_layer(f"conv{stage}_block1_1_pad").padding == ((1, 1), (1, 1))
    assert "post_bn" not in [layer.name for layer in model.layers]


def test_preact_bottleneck_layout():
    model = CifarResNet(29, block="bottleneck", preact=True, shortcut="B", include_top=False, input_shape=(32, 32, 3))
    names = [layer.name for layer in model.layers]
    assert "conv1_bn" not in names and names[-2:] == ["post_bn", "post_relu"]
    # Projection shortcuts (1x1 conv, no BN) where the shape changes, from the shared pre-activation (He et al. 2016b,
    # Appendix; resnet-1k-layers): conv2's first unit goes 16 -> 64 channels, conv3/conv4 also halve the size.
    projections = {conv.name: conv for conv in _convs(model) if conv.name.endswith("_0_conv")}
    assert sorted(projections) == [f"conv{stage}_block1_0_conv" for stage in (2, 3, 4)]
    assert "conv2_block1_0_bn" not in names
    for stage in (2, 3, 4):
        projection = projections[f"conv{stage}_block1_0_conv"]
        assert projection._inbound_nodes[0].parent_nodes[0].operation.name == f"conv{stage}_block1_preact_relu"
    # Identity units: the shortcut carries the raw input, not the activation.
    add = model.get_layer("conv2_block2_out")
    assert [node.operation.name for node in add._inbound_nodes[0].parent_nodes] == [
        "conv2_block1_out",
        "conv2_block2_3_conv",
    ]
    # Bottleneck widths 16/16/64 and the stride on the first 1x1 conv (resnet-1k-layers' bottleneck).
    assert [model.get_layer(f"conv3_block1_{i}_conv").filters for i in (1, 2, 3)] == [32, 32, 128]
    assert model.get_layer("conv3_block1_1_conv").kernel_size == (1, 1)
    assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert "conv3_block1_3_bn" not in names


def test_preact_basic_first_unit_shares_the_activation_after_conv1():
    model = CifarResNet(8, preact=True, include_top=False, input_shape=(8, 8, 3))
    add = model.get_layer("conv2_block1_out")
    assert add._inbound_nodes[0].parent_nodes[0].operation.name == "conv2_block1_preact_relu"


def test_zero_padded_identity_values_and_config():
    layer = ZeroPaddedIdentity(8, 2)
    x = np.arange(2 * 5 * 5 * 3, dtype="float32").reshape(2, 5, 5, 3)
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == (2, 3, 3, 8) == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(y[..., :3], x[:, ::2, ::2, :])
    assert not y[..., 3:].any()
    clone = ZeroPaddedIdentity.from_config(layer.get_config())
    assert (clone.channels, clone.stride, clone.data_format) == (8, 2, "channels_last")
    with pytest.raises(ValueError, match="cannot reduce 3 channels to 2"):
        ZeroPaddedIdentity(2)(x)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(depth=21), ValueError, r"`depth` must be 6n\+2 with n >= 1 for block='basic' \(8, 14, 20, .*depth=21"),
        (dict(depth=2), ValueError, r"6n\+2.*depth=2$"),
        (dict(depth="20"), ValueError, r"depth='20'"),
        (dict(depth=True), ValueError, r"depth=True"),
        (dict(depth=1001), ValueError, r"6n\+2 .*block='basic'.*depth=1001"),
        (dict(depth=1202, block="bottleneck"), ValueError, r"9n\+2 with n >= 1 for block='bottleneck' \(11, 20, 29"),
        (dict(depth=20, block="wide"), ValueError, r"'basic', 'bottleneck'. Received: block='wide'"),
        (dict(depth=20, shortcut="C"), ValueError, r"'A', 'B'. Received: shortcut='C'"),
        (dict(depth=20, plain=True, shortcut="B"), ValueError, r"plain=True.*shortcut='B'"),
        (dict(depth=20, preact="yes"), TypeError, r"preact='yes'"),
        (dict(depth=20, plain=1), TypeError, r"plain=1"),
        (dict(depth=20, weights="imagenet"), ValueError, r"No 'imagenet' weights.*CifarResNet20"),
        (dict(depth=20, weights="cifar10"), ValueError, r"Received: weights=cifar10"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        CifarResNet(**kwargs)


def test_registry_presets():
    expected = {
        "CifarResNet20": dict(depth=20, block="basic", preact=False, shortcut="A", plain=False),
        "CifarResNet1202": dict(depth=1202, block="basic", preact=False, shortcut="A", plain=False),
        "CifarPreActResNet164": dict(depth=164, block="bottleneck", preact=True, shortcut="B", plain=False),
        "CifarPreActResNet1001": dict(depth=1001, block="bottleneck", preact=True, shortcut="B", plain=False),
    }
    for name, build_kwargs in expected.items():
        spec = registry.get_spec(name)
        assert dict(spec.build_kwargs) == build_kwargs
        assert (spec.family, spec.default_size, spec.classes, spec.preprocessing) == ("cifar_resnet", 32, 10, "tf")
        assert spec.builder is CifarResNet and spec.weights == ()
    assert registry.list_models("Cifar*") == sorted(cifar_resnet._PRESETS)
    # Variants that are no preset share the block's first preset for sizes and checks.
    assert cifar_resnet._spec_for(26, "basic", True, False, "A").name == "CifarResNet20"
    assert cifar_resnet._spec_for(56, "basic", False, False, "A").name == "CifarResNet56"


def test_graph_recursion_limit_is_restored():
    before = sys.getrecursionlimit()
    with cifar_resnet.graph_recursion_limit(2_000):
        assert sys.getrecursionlimit() >= 9_000
    assert sys.getrecursionlimit() == before


# ----- the 1000-layer networks (10-20 s a build) -------------------------------------------------------------------


@pytest.mark.slow
def test_resnet1202_parameter_count():
    model = registry.get_model("CifarResNet1202")
    assert trainable(model) == 19_421_274 and round(trainable(model) / 1e6, 1) == 19.4  # He et al. 2016a, Table 6
    assert model.count_params() == registry.get_spec("CifarResNet1202").params
    assert sum(isinstance(layer, layers.Add) for layer in model.layers) == 600


@pytest.mark.slow
def test_preact_resnet1001_parameter_count():
    model = registry.get_model("CifarPreActResNet1001")
    count = trainable(model)
    assert count == 10_327_706
    # He et al. 2016b quote 10.2M: the conv and fc weights, without BN's scales and offsets.
    bn = sum(
        int(np.prod(w.shape))
        for layer in model.layers
        if isinstance(layer, layers.BatchNormalization)
        for w in layer.trainable_weights
    )
    assert round((count - bn) / 1e6, 1) == 10.2


@pytest.mark.slow
def test_resnet1202_round_trip_needs_the_raised_recursion_limit(tmp_path):
    model = CifarResNet(1202, input_shape=(8, 8, 3))
    model.save(tmp_path / "deep.keras")
    x = np.random.default_rng(0).uniform(-1, 1, (1, 8, 8, 3)).astype("float32")
    with cifar_resnet.graph_recursion_limit(1202):
        restored = keras.saving.load_model(tmp_path / "deep.keras")
    # Eager calls: predict() would trace 4,210 layers into a graph first (about 30 s each).
    np.testing.assert_array_equal(forward(restored, x), forward(model, x))
