"""Inception-v4-specific tests: the paper's grids and widths, TF-slim's conv units and order, the head, the arguments.

Build, parameter count, save/load and the common argument checks are in the registry-wide suite.
"""

import numpy as np
import pytest
from keras import layers

from keras_archs.applications import _blocks, inception_v4
from tests.conftest import forward

STEM_MODULES = ["mixed_3a", "mixed_4a", "mixed_5a"]
MODULE_NAMES = (
    STEM_MODULES
    + [f"mixed_5{c}" for c in "bcde"]
    + ["mixed_6a"]
    + [f"mixed_6{c}" for c in "bcdefgh"]
    + ["mixed_7a"]
    + [f"mixed_7{c}" for c in "bcd"]
)
# (grid, channels) after each module at 299x299: Szegedy et al. 2017 Fig. 3 (73x73x160, 71x71x192, 35x35x384),
# Fig. 9 / TF-slim comments (35x35x384, 17x17x1024, 8x8x1536).
MODULE_OUTPUTS = [(73, 160), (71, 192), (35, 384)] + [(35, 384)] * 4 + [(17, 1024)] * 8 + [(8, 1536)] * 4
CONV_UNITS = 149  # counted from TF-slim's inception_v4_base: 3 stem convs + 1 + 6 + 1 + 4x7 + 4 + 7x10 + 6 + 3x10


@pytest.fixture(scope="module")
def features_299(built):
    # A fresh session: test_inception_b_convs_follow_tf_slim_order reads the creation order from the auto-names.
    return built("InceptionV4", fresh_names=True, include_top=False, input_shape=(299, 299, 3))


def _last_width(branch, width):
    last = branch[-1]
    if isinstance(last, _blocks.Conv):
        return last.filters
    if isinstance(last, _blocks.Split):
        return sum(conv.filters for conv in last.convs)
    return width  # pool-only branch passes its input through


def _conv_count(branches):
    return sum(
        len(step.convs) if isinstance(step, _blocks.Split) else isinstance(step, _blocks.Conv)
        for branch in branches
        for step in branch
    )


def test_module_rows_match_the_paper_widths():
    width = inception_v4.STEM_CONVS[-1].filters  # 147x147x64 (Fig. 3)
    rows = (*inception_v4.STEM_MODULES, *inception_v4.INCEPTION_V4_MODULES)
    assert [name for name, _ in rows] == MODULE_NAMES
    for (name, branches), (_, expected) in zip(rows, MODULE_OUTPUTS):
        width = sum(_last_width(branch, width) for branch in branches)
        assert width == expected, name
    convs = _conv_count((inception_v4.STEM_CONVS,)) + sum(_conv_count(branches) for _, branches in rows)
    assert convs == CONV_UNITS


def test_reduction_a_uses_table_1_filters():
    # Table 1, Inception-v4: k=192, l=224, m=256, n=384 (branches: 3x3/2 n | 1x1 k, 3x3 l, 3x3/2 m | max pool).
    (name, branches) = inception_v4.INCEPTION_V4_MODULES[4]
    assert name == "mixed_6a"
    assert [[conv.filters for conv in branch if isinstance(conv, _blocks.Conv)] for branch in branches] == [
        [384],
        [192, 224, 256],
        [],
    ]


def test_grids_and_widths_at_299(features_299):
    for name, (grid, channels) in zip(MODULE_NAMES, MODULE_OUTPUTS):
        assert features_299.get_layer(name).output.shape[1:] == (grid, grid, channels), name
    assert features_299.output_shape == (None, 8, 8, 1536)
    # The classifier adds 1536 x 1000 + 1000 to the registered count (Fig. 9: avg pool, dropout, fc).
    assert features_299.count_params() + 1536 * 1000 + 1000 == inception_v4.SPEC.params == 42_711_400


def test_conv_units_are_tf_slim_conv_bn_relu(features_299):
    convs = [layer for layer in features_299.layers if isinstance(layer, layers.Conv2D)]
    bns = [layer for layer in features_299.layers if isinstance(layer, layers.BatchNormalization)]
    assert len(convs) == len(bns) == CONV_UNITS
    # TF-slim inception_arg_scope: no conv bias, batch norm without scale, epsilon 0.001.
    assert not any(conv.use_bias for conv in convs)
    assert not any(bn.scale for bn in bns) and all(bn.center for bn in bns)
    assert {bn.epsilon for bn in bns} == {1e-3}
    trainable = sum(int(np.prod(w.shape)) for w in features_299.trainable_weights)
    assert trainable + 1536 * 1000 + 1000 == inception_v4.SPEC.trainable_params == 42_648_232


def test_inception_b_convs_follow_tf_slim_order(features_299):
    # Convs in creation order (the auto-names conv2d, conv2d_1, ... of a fresh session count it): mixed_6b is
    # Inception-B built branch by branch like TF-slim's Mixed_6b Branch_0 ... Branch_3, 7x1 before 1x7 in the double
    # 7x7 branch. (``model.layers`` is sorted by graph depth instead, so it interleaves the branches.)
    convs = [layer for layer in features_299.layers if isinstance(layer, layers.Conv2D)]
    convs.sort(key=lambda layer: int(layer.name.rpartition("_")[2]) if layer.name != "conv2d" else 0)
    kernels = [layer.kernel.shape for layer in convs]
    first_b = 3 + 1 + 6 + 1 + 4 * 7 + 4  # convs before mixed_6b
    assert [tuple(k[:2]) + (k[3],) for k in kernels[first_b : first_b + 10]] == [
        (1, 1, 384),
        (1, 1, 192), (1, 7, 224), (7, 1, 256),
        (1, 1, 192), (7, 1, 192), (1, 7, 224), (7, 1, 224), (1, 7, 256),
        (1, 1, 128),
    ]  # fmt: skip


def test_inception_c_splits_are_named(features_299):
    for name in ("mixed_7b", "mixed_7c", "mixed_7d"):
        assert [features_299.get_layer(f"{name}_branch{i}").output.shape[-1] for i in (1, 2)] == [512, 512]


def test_smallest_input_leaves_a_1x1_grid():
    # The small variant keeps the stem and both reductions, which decide the grid (MIN_SIZE's comment).
    model = inception_v4.SMALL_VARIANTS["one_module_per_kind"].build(include_top=False, input_shape=(75, 75, 3))
    assert model.output_shape == (None, 1, 1, 1536)


def test_head_has_dropout_keep_0_8():
    # The small variant has the model's head (build_inception_v4's classifier) on fewer modules.
    model = inception_v4.SMALL_VARIANTS["one_module_per_kind"].build(input_shape=(75, 75, 3), classes=10)
    assert [layer.name for layer in model.layers[-3:]] == ["avg_pool", "dropout", "predictions"]
    assert model.get_layer("dropout").rate == pytest.approx(0.2)
    assert model.output_shape == (None, 10)


def test_features_returns_every_module_endpoint():
    features, endpoints = inception_v4.inception_v4_features(layers.Input((75, 75, 3)), inception_v4.SMALL_MODULES)
    assert list(endpoints) == STEM_MODULES + [name for name, _ in inception_v4.SMALL_MODULES]
    assert endpoints["mixed_7b"] is features
    assert [name for name, _ in inception_v4.INCEPTION_V4_MODULES] == MODULE_NAMES[len(STEM_MODULES) :]


def test_imagenet_weights_are_refused_before_building():
    with pytest.raises(ValueError, match="No 'imagenet' weights are published for InceptionV4.*weights='imagenet'"):
        inception_v4.InceptionV4(weights="imagenet")
    # Checked before keras' "classes should be 1000", which would suggest that 1000 classes could work.
    with pytest.raises(ValueError, match="No 'imagenet' weights are published for InceptionV4"):
        inception_v4.InceptionV4(weights="imagenet", classes=10)


def test_below_min_size_raises_keras_message():
    with pytest.raises(ValueError, match="Input size must be at least 75x75"):
        inception_v4.InceptionV4(include_top=False, input_shape=(74, 75, 3))
    # The bound is tight: at 74 the 17x17 grid is 2x2 and Reduction-B's 3x3/2 valid convs cannot run (the small
    # modules keep both reductions).
    with pytest.raises(ValueError, match="zero or negative"):
        inception_v4.inception_v4_features(layers.Input((74, 74, 3)), inception_v4.SMALL_MODULES)


@pytest.mark.slow  # 494 layers, 42.7M parameters; the small variants' weight-file tests run in the default lane
def test_weights_file_round_trip(tmp_path):
    model = inception_v4.InceptionV4(include_top=False, input_shape=(75, 75, 3), pooling="avg")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 75, 75, 3)).astype("float32")
    path = tmp_path / "v4.weights.h5"
    model.save_weights(path)
    restored = inception_v4.InceptionV4(include_top=False, input_shape=(75, 75, 3), pooling="avg", weights=str(path))
    np.testing.assert_allclose(forward(restored, x), forward(model, x), rtol=1e-6, atol=1e-6)


def test_preprocess_input_is_tf_mode():
    x = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    np.testing.assert_allclose(inception_v4.preprocess_input(x.copy()), [[[[-1.0, 0.0, 1.0]]]])
