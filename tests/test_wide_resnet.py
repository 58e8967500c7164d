"""Wide ResNets: parameter counts against Zagoruyko & Komodakis 2016 (Tables 2-4), the block layout (pre-activation,
dropout between convs, projection shortcuts), group shapes, block types and argument validation.

Build, pooling and the ``.keras`` round trip of the presets are in the registry-wide suite (test_models.py).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from keras_archs import registry
from keras_archs.applications import wide_resnet
from keras_archs.applications.wide_resnet import WideResNet
from tests.conftest import lanes


def trainable(model: keras.Model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# Trainable, 10 classes (DESIGN.md); the paper's rounded figures: Table 4.
PRESETS = {
    "WideResNet28_10": (28, 10, 36_479_194, 36.5),
    "WideResNet40_4": (40, 4, 8_949_210, 8.9),
    "WideResNet16_8": (16, 8, 10_961_370, 11.0),
}


@pytest.mark.parametrize("name", lanes(list(PRESETS)))
def test_preset_parameter_counts(name, built):
    depth, width, count, paper_millions = PRESETS[name]
    model = built(name)
    assert trainable(model) == count and round(count / 1e6, 1) == paper_millions
    spec = registry.get_spec(name)
    assert (spec.trainable_params, spec.params) == (count, model.count_params())
    assert dict(spec.build_kwargs) == {"depth": depth, "width": width, "block": "B(3,3)"}
    assert (spec.family, spec.default_size, spec.classes, spec.preprocessing) == ("wide_resnet", 32, 10, "tf")
    assert model.name == f"wide_resnet{depth}_{width}"


def test_table4_thin_networks():
    # Zagoruyko & Komodakis 2016, Table 4: WRN-40-1 0.6M, WRN-40-2 2.2M.
    assert round(trainable(WideResNet(40, 1)) / 1e6, 1) == 0.6
    assert round(trainable(WideResNet(40, 2)) / 1e6, 1) == 2.2


def test_table3_deepening_factor_keeps_depth_and_parameters():
    # Table 3: WRN-40-2 with l = 1..4 3x3 convs per block, "same number of parameters (2.2M) and same number of
    # convolutional layers".
    counts = {}
    for block in ("B(3)", "B(3,3)", "B(3,3,3)", "B(3,3,3,3)"):
        model = WideResNet(40, 2, block=block)
        counts[block] = trainable(model)
        assert len([layer for layer in model.layers if isinstance(layer, layers.Conv2D)]) == 40
    assert set(counts.values()) == {2_243_546}


@pytest.mark.parametrize(
    ("block", "depth", "paper_millions"),
    # Table 2 (k = 2). The three-conv rows reach the paper's counts with n = 6 / 3 blocks per group, i.e. depths 58
    # and 31 as conv layers count (the paper labels them 40 and 22; see the module docstring).
    [
        ("B(3,1)", 40, 1.2),
        ("B(1,3)", 40, 1.3),
        ("B(3,3)", 28, 1.5),
        ("B(1,3,1)", 58, 1.4),
        ("B(3,1,1)", 58, 1.3),
        ("B(3,1,3)", 31, 1.1),
    ],
)
def test_table2_block_types(block, depth, paper_millions):
    assert round(trainable(WideResNet(depth, 2, block=block)) / 1e6, 1) == paper_millions


@pytest.fixture(scope="module")
def wrn():
    return WideResNet(16, 4, dropout_rate=0.3, include_top=False, input_shape=(32, 32, 3))


def _parents(model, name):
    return [node.operation.name for node in model.get_layer(name)._inbound_nodes[0].parent_nodes]


def test_block_layout(wrn):
    names = [layer.name for layer in wrn.layers]
    convs = [layer for layer in wrn.layers if isinstance(layer, layers.Conv2D)]
    assert not any(conv.use_bias for conv in convs)
    assert names[1] == "conv1_conv" and "conv1_bn" not in names and names[-2:] == ["post_bn", "post_relu"]
    # Dropout between the two convs of every block, after the BN -> ReLU of the first (Sec. 2.4).
    dropouts = [layer for layer in wrn.layers if isinstance(layer, layers.Dropout)]
    assert [d.name for d in dropouts] == [f"conv{g}_block{b}_2_dropout" for g in (2, 3, 4) for b in (1, 2)]
    assert {d.rate for d in dropouts} == {0.3}
    assert _parents(wrn, "conv2_block1_2_dropout") == ["conv2_block1_1_relu"]
    assert _parents(wrn, "conv2_block1_2_conv") == ["conv2_block1_2_dropout"]
    # Projection where the channels change (16 -> 64, 64 -> 128, 128 -> 256), after the block's first BN -> ReLU.
    projections = [conv.name for conv in convs if conv.name.endswith("_0_conv")]
    assert projections == [f"conv{g}_block1_0_conv" for g in (2, 3, 4)]
    assert _parents(wrn, "conv3_block1_0_conv") == ["conv3_block1_preact_relu"]
    assert wrn.get_layer("conv3_block1_0_conv").strides == (2, 2)
    assert _parents(wrn, "conv3_block2_out") == ["conv3_block1_out", "conv3_block2_2_conv"]  # identity
    # Stride 2 on the first 3x3 conv of groups 3 and 4, padded symmetrically.
    assert wrn.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert wrn.get_layer("conv3_block1_1_pad").padding == ((1, 1), (1, 1))


def test_group_shapes(wrn):
    outputs = {layer.name: layer.output.shape[1:] for layer in wrn.layers if layer.name.endswith("_out")}
    assert outputs == {
        f"conv{g}_block{b}_out": (size, size, width)
        for g, size, width in zip((2, 3, 4), (32, 16, 8), (64, 128, 256))
        for b in (1, 2)
    }
    assert wrn.output_shape == (None, 8, 8, 256)


def test_no_dropout_layers_at_rate_zero_and_dropout_only_in_training(wrn):
    assert not any(isinstance(layer, layers.Dropout) for layer in WideResNet(10, 1, include_top=False).layers)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    inference = [keras.ops.convert_to_numpy(wrn(x, training=False)) for _ in range(2)]
    np.testing.assert_array_equal(*inference)
    assert not np.array_equal(keras.ops.convert_to_numpy(wrn(x, training=True)), inference[0])


def test_width_one_keeps_an_identity_first_block():
    # k = 1: conv2 stays at 16 channels, so its first block has an identity shortcut from the raw conv1 output, as
    # in the authors' Torch code.
    model = WideResNet(10, 1, include_top=False, input_shape=(8, 8, 3))
    assert "conv2_block1_0_conv" not in [layer.name for layer in model.layers]
    assert _parents(model, "conv2_block1_out") == ["conv1_conv", "conv2_block1_2_conv"]


def test_other_block_types():
    model = WideResNet(13, 2, dropout_rate=0.2, block="B(1, 3, 1)", include_top=False, input_shape=(8, 8, 3))
    assert model.name == "wide_resnet13_2_b131"
    assert [model.get_layer(f"conv3_block1_{i}_conv").kernel_size for i in (1, 2, 3)] == [(1, 1), (3, 3), (1, 1)]
    assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)  # the stride goes to the first conv, a 1x1 here
    assert [layer.name for layer in model.layers if isinstance(layer, layers.Dropout)][:2] == [
        "conv2_block1_2_dropout",
        "conv2_block1_3_dropout",
    ]
    assert model.output_shape == (None, 2, 2, 128)


@pytest.mark.parametrize(
    ("text", "kernels"), [("B(3,3)", (3, 3)), (" B( 1, 3 ,1 ) ", (1, 3, 1)), ("B(3)", (3,)), ("B(3,3,3,3)", (3,) * 4)]
)
def test_parse_block(text, kernels):
    assert wide_resnet.parse_block(text) == kernels


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            dict(depth=29),
            r"`depth` must be 6n\+4 with n >= 1 for block='B\(3,3\)' \(2 convs per block, 3 groups: "
            r"10, 16, 22, \.\.\.\)\. Received: depth=29",
        ),
        (dict(depth=4), r"depth=4$"),
        (dict(depth=28.0), r"depth=28.0"),
        (dict(depth=28, block="B(1,3,1)"), r"9n\+4 .*block='B\(1,3,1\)'.*13, 22, 31"),
        (dict(block="B(2,3)"), r"'B\(k1,...,kl\)' with kernel sizes 1 or 3.*'B\(3,1,3\)'.*Received: block='B\(2,3\)'"),
        (dict(block="B()"), r"block='B\(\)'"),
        (dict(block=(3, 3)), r"block=\(3, 3\)"),
        (dict(width=0), r"`width` \(the widening factor k\) must be a positive integer. Received: width=0"),
        (dict(width=2.5), r"width=2.5"),
        (dict(width=True), r"width=True"),
        (dict(dropout_rate=1.0), r"`dropout_rate` must be a number in \[0, 1\). Received: dropout_rate=1.0"),
        (dict(dropout_rate=-0.1), r"dropout_rate=-0.1"),
        (dict(dropout_rate="0.3"), r"dropout_rate='0.3'"),
        (dict(weights="imagenet"), r"No 'imagenet' weights.*WideResNet28_10.*weights='imagenet'"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WideResNet(**kwargs)


def test_spec_lookup():
    assert wide_resnet._spec_for(40, 4, (3, 3)).name == "WideResNet40_4"
    assert wide_resnet._spec_for(22, 8, (3, 3)).name == "WideResNet28_10"
