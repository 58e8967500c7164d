"""InceptionV3-specific tests: the module rows, keras' layer order and names, the smallest input.

Build, parameter count, weight-file parity, save/load and the common argument checks are in the registry-wide suite.
"""

import keras
import numpy as np
import pytest
from keras import layers

from keras_archs.applications import _blocks, inception_v3
from keras_archs.applications._validation import KerasArguments
from tests.conftest import assert_input_sensitive, forward, randomize_weights

MODULE_NAMES = [f"mixed{i}" for i in range(11)]
# Output channels of each module: Szegedy et al. 2016 Table 1 / keras' comments (35x35x256, 288, 288, 17x17x768 x5,
# 8x8x1280, 8x8x2048 x2).
MODULE_CHANNELS = [256, 288, 288, 768, 768, 768, 768, 768, 1280, 2048, 2048]


@pytest.fixture(scope="module")
def small_model(built):
    # 75x75 is keras' min_size: the trunk shrinks it to a 1x1 grid. Built in a fresh session: the auto-generated
    # layer names are compared with keras'.
    return built("InceptionV3", fresh_names=True, include_top=False, input_shape=(75, 75, 3))


def _conv_count(branches):
    count = 0
    for branch in branches:
        for step in branch:
            if isinstance(step, _blocks.Conv):
                count += 1
            elif isinstance(step, _blocks.Split):
                count += len(step.convs)
    return count


def test_module_rows_match_the_paper_widths():
    # Each module's width is the sum of its branches' last filter counts (pool-only branches pass channels through).
    width = 192  # stem output, Szegedy et al. 2016 Table 1
    for (name, branches), expected in zip(inception_v3.INCEPTION_V3_MODULES, MODULE_CHANNELS):
        out = 0
        for branch in branches:
            last = branch[-1]
            if isinstance(last, _blocks.Conv):
                out += last.filters
            elif isinstance(last, _blocks.Split):
                out += sum(c.filters for c in last.convs)
            else:
                out += width
        assert out == expected, name
        width = out


def test_modules_are_named_and_sized_like_keras(small_model):
    for name, channels in zip(MODULE_NAMES, MODULE_CHANNELS):
        assert small_model.get_layer(name).output.shape[-1] == channels
    assert [small_model.get_layer(f"mixed9_{i}").output.shape[-1] for i in (0, 1)] == [768, 768]
    assert small_model.output_shape == (None, 1, 1, 2048)


def test_conv_units_are_keras_conv2d_bn(small_model):
    convs = [layer for layer in small_model.layers if isinstance(layer, layers.Conv2D)]
    bns = [layer for layer in small_model.layers if isinstance(layer, layers.BatchNormalization)]
    expected = _conv_count((inception_v3.STEM,)) + sum(
        _conv_count(branches) for _, branches in inception_v3.INCEPTION_V3_MODULES
    )
    assert len(convs) == len(bns) == expected == 94  # keras' InceptionV3 has 94 conv-BN-ReLU units
    assert not any(conv.use_bias for conv in convs)
    assert not any(bn.scale for bn in bns) and all(bn.center for bn in bns)
    assert {bn.epsilon for bn in bns} == {1e-3}


def test_layer_order_and_auto_names_match_keras(small_model):
    # Same class, name and weight shapes layer by layer in a fresh session: what `.weights.h5` (class + order) and
    # legacy `.h5` (order of weighted layers) files depend on.
    def describe(model):
        return [(type(layer).__name__, layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]

    ours = describe(small_model)
    keras.backend.clear_session()
    assert ours == describe(keras.applications.InceptionV3(weights=None, include_top=False, input_shape=(75, 75, 3)))


def test_features_returns_every_module_endpoint():
    assert [name for name, _ in inception_v3.INCEPTION_V3_MODULES] == MODULE_NAMES
    # On the small variant's modules (one of each kind; the grids are the full network's).
    features, endpoints = inception_v3.inception_v3_features(layers.Input((75, 75, 3)), inception_v3.SMALL_MODULES)
    assert list(endpoints) == [name for name, _ in inception_v3.SMALL_MODULES]
    assert endpoints["mixed9"] is features
    assert endpoints["mixed7"].shape[1:] == (3, 3, 768)  # the 17x17 grid (at 299) the auxiliary head will use


def test_pooling_layers_are_unnamed_like_keras():
    keras.backend.clear_session()  # the auto-generated name counts per session
    # The small variant goes through the model's builder (build_inception_v3) with fewer modules.
    variant = inception_v3.SMALL_VARIANTS["one_module_per_kind"]
    model = variant.build(include_top=False, input_shape=(75, 75, 3), pooling="max")
    assert model.layers[-1].name == "global_max_pooling2d"
    assert model.output_shape == (None, 2048)


def test_below_min_size_raises_keras_message():
    with pytest.raises(ValueError, match="Input size must be at least 75x75"):
        inception_v3.InceptionV3(weights=None, include_top=False, input_shape=(74, 75, 3))


def test_preprocess_input_is_tf_mode():
    x = np.array([[[[0.0, 127.5, 255.0]]]], dtype="float32")
    np.testing.assert_allclose(inception_v3.preprocess_input(x.copy()), [[[[-1.0, 0.0, 1.0]]]])
    np.testing.assert_allclose(
        inception_v3.preprocess_input(x.copy()), keras.applications.inception_v3.preprocess_input(x.copy())
    )


# ----- auxiliary classifier (aux_logits=True) -------------------------------------------------------------------


def _small_with_aux(aux_logits: bool = True, **kwargs) -> keras.Model:
    """InceptionV3's builder on the small variant's modules (one of each kind; mixed7 and the grids are kept)."""
    arguments = KerasArguments(**{"weights": None, "name": "inception_v3", **kwargs})
    return inception_v3.build_inception_v3(
        inception_v3.SPEC, arguments, modules=inception_v3.SMALL_MODULES, aux_logits=aux_logits
    )


AUX_HEAD_PARAMS = 128 * 768 + 3 * 128 + 5 * 5 * 128 * 768 + 3 * 768 + 768 * 1000 + 1000  # BN: beta, mean, variance


def test_aux_head_dimensions_at_299():
    keras.backend.clear_session()
    model = _small_with_aux(input_shape=(299, 299, 3))
    assert inception_v3.AUX_LOSS_WEIGHT == 0.4
    assert model.output_names == ["predictions", "aux_predictions"]
    assert [tuple(output.shape) for output in model.outputs] == [(None, 1000), (None, 1000)]
    assert model.get_layer("aux_avg_pool").input is model.get_layer("mixed7").output
    # TF-slim AuxLogits: 17x17x768 -> 5x5x768 (avg 5x5/3) -> 5x5x128 (1x1) -> 1x1x768 (5x5 valid) -> classes.
    shapes = {n: tuple(model.get_layer(n).output.shape[1:]) for n in ("aux_avg_pool", "aux_conv1_ac", "aux_conv2_ac")}
    assert shapes == {"aux_avg_pool": (5, 5, 768), "aux_conv1_ac": (5, 5, 128), "aux_conv2_ac": (1, 1, 768)}
    assert model.get_layer("aux_conv2").kernel.shape == (5, 5, 128, 768)
    assert not model.get_layer("aux_conv2").use_bias and not model.get_layer("aux_conv2_bn").scale
    assert sum(layer.count_params() for layer in model.layers if layer.name.startswith("aux_")) == AUX_HEAD_PARAMS


@pytest.mark.slow  # the registered model (313 layers, conftest's slow-lane rule); its head: the test above
def test_aux_model_parameter_count():
    model = inception_v3.InceptionV3(weights=None, aux_logits=True)
    assert model.count_params() == inception_v3.SPEC.params + AUX_HEAD_PARAMS == 27_179_376


def test_aux_model_keeps_keras_main_graph():
    size = inception_v3.AUX_MIN_SIZE
    keras.backend.clear_session()
    aux = _small_with_aux(input_shape=(size, size, 3))
    keras.backend.clear_session()
    plain = _small_with_aux(input_shape=(size, size, 3), aux_logits=False)
    main = [(type(layer), layer.name) for layer in aux.layers if not layer.name.startswith("aux_")]
    assert main == [(type(layer), layer.name) for layer in plain.layers]
    # The 5x5 conv shrinks to the pooled grid on small inputs (TF-slim's _reduced_kernel_size_for_small_input).
    assert aux.get_layer("aux_avg_pool").output.shape[1:3] == (1, 1)
    assert aux.get_layer("aux_conv2").kernel.shape == (1, 1, 128, 768)


@pytest.mark.slow  # keras' and our registered model (313 layers, conftest's slow-lane rule)
def test_keras_weights_load_into_main_graph_of_aux_model(tmp_path):
    size = inception_v3.AUX_MIN_SIZE
    keras.backend.clear_session()
    theirs = keras.applications.InceptionV3(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    randomize_weights(theirs, seed=5)
    theirs.save(tmp_path / "legacy.h5")  # full-model legacy h5: weights keyed by layer order
    theirs.save_weights(tmp_path / "model.weights.h5")  # Keras 3: keyed by layer class and order
    x = np.random.default_rng(6).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    expected = assert_input_sensitive(theirs, x)
    for file_name in ("legacy.h5", "model.weights.h5"):
        ours = inception_v3.InceptionV3(
            weights=str(tmp_path / file_name), aux_logits=True, input_shape=(size, size, 3), classifier_activation=None
        )
        main, aux = forward(ours, x)
        np.testing.assert_allclose(main, expected, rtol=1e-5, atol=1e-5, err_msg=file_name)
        # The head is new (random, TF-slim's initialiser): it gives other scores than the loaded classifier.
        assert aux.shape == (2, 1000) and not np.allclose(aux, main, atol=1e-3)


def test_aux_argument_checks():
    with pytest.raises(ValueError, match="requires `include_top=True`.*include_top=False"):
        inception_v3.InceptionV3(weights=None, include_top=False, aux_logits=True)
    with pytest.raises(TypeError, match="aux_logits=1"):
        inception_v3.InceptionV3(weights=None, aux_logits=1)
    size = inception_v3.AUX_MIN_SIZE - 1
    with pytest.raises(ValueError, match=rf"at least 107x107.*input_shape=\({size}, {size}, 3\)"):
        _small_with_aux(input_shape=(size, size, 3))  # raised after the main network is built (its grid decides)
