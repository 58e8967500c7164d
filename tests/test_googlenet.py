"""GoogLeNet-specific tests: Table 1 of Szegedy et al. 2015, Caffe's pooling and padding, the auxiliary classifiers.

Build, parameter count, save/load and the common argument checks are in the registry-wide suite.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_archs
from keras_archs import imagenet_utils, registry
from keras_archs.applications import googlenet
from keras_archs.applications._blocks import LocalResponseNormalization
from keras_archs.applications._validation import KerasArguments
from keras_archs.applications.googlenet import GoogLeNet
from tests.conftest import assert_input_sensitive, forward, randomize_weights

ROWS = [item for item in googlenet.INCEPTION_MODULES if not isinstance(item, str)]
# Szegedy et al. 2015, Table 1, "output size" column of inception 3a ... 5b.
TABLE1_OUTPUTS = {
    "3a": (28, 256),
    "3b": (28, 480),
    "4a": (14, 512),
    "4b": (14, 512),
    "4c": (14, 512),
    "4d": (14, 528),
    "4e": (14, 832),
    "5a": (7, 832),
    "5b": (7, 1024),
}


@pytest.fixture(scope="module")
def model(built):
    return built("GoogLeNet")


@pytest.fixture(scope="module")
def aux_model(built):
    return built("GoogLeNet", aux_logits=True)


def test_parameter_count(model):
    # DESIGN.md: 6,998,552 for the original network (5x5 branch, no BN, no aux); every parameter trainable.
    assert model.count_params() == 6_998_552 == registry.get_spec("GoogLeNet").params
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 6_998_552
    assert model.name == "googlenet" and model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)


def test_inception_modules_follow_table1(model):
    assert [row.name for row in ROWS] == list(TABLE1_OUTPUTS)
    for row in ROWS:
        grid, channels = TABLE1_OUTPUTS[row.name]
        assert row.width == channels
        assert model.get_layer(f"inception_{row.name}_output").output.shape[1:] == (grid, grid, channels)
        prefix = f"inception_{row.name}"
        # The paper's 5x5 branch (torchvision's GoogLeNet has a 3x3 there).
        assert model.get_layer(f"{prefix}_5x5").kernel.shape == (5, 5, row.n5x5_reduce, row.n5x5)
        assert model.get_layer(f"{prefix}_3x3").kernel.shape[:2] == (3, 3)
        assert model.get_layer(f"{prefix}_pool_proj").filters == row.pool_proj


def test_stem_and_caffe_pooling_give_table1_sizes(model):
    # Table 1: conv 112x112x64, max pool 56, conv 56x56x192, max pool 28, ..., max pool 7 -> avg pool 1x1x1024.
    sizes = {
        name: tuple(model.get_layer(name).output.shape[1:])
        for name in (
            "conv1_7x7_s2_pad",
            "conv1_7x7_s2",
            "pool1_3x3_s2",
            "conv2_3x3",
            "pool2_3x3_s2",
            "pool3_3x3_s2",
            "pool4_3x3_s2",
            "pool5_7x7_s1",
        )
    }
    assert sizes == {
        "conv1_7x7_s2_pad": (230, 230, 3),  # pad 3 on every side (Caffe), not Keras' asymmetric "same"
        "conv1_7x7_s2": (112, 112, 64),
        "pool1_3x3_s2": (56, 56, 64),  # Caffe rounds up: Keras' floor would give 55
        "conv2_3x3": (56, 56, 192),
        "pool2_3x3_s2": (28, 28, 192),
        "pool3_3x3_s2": (14, 14, 480),
        "pool4_3x3_s2": (7, 7, 832),
        "pool5_7x7_s1": (1024,),
    }


def test_lrn_no_batch_norm_and_dropout(model):
    names = [layer.name for layer in model.layers]
    assert names[names.index("pool1_3x3_s2") + 1] == "pool1_norm1"
    assert names[names.index("conv2_3x3") + 1] == "conv2_norm2"
    assert sum(isinstance(layer, LocalResponseNormalization) for layer in model.layers) == 2
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert all(layer.use_bias for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert model.get_layer("pool5_drop_7x7_s1").rate == 0.4


def test_auxiliary_classifiers(aux_model):
    assert googlenet.AUX_LOSS_WEIGHT == 0.3  # Sec. 5
    assert aux_model.output_names == ["predictions", "aux1_predictions", "aux2_predictions"]
    assert [tuple(output.shape) for output in aux_model.outputs] == [(None, 1000)] * 3
    # Each head: 1x1 conv (512 or 528 -> 128), fc 2048 -> 1024, fc 1024 -> 1000 (Sec. 5).
    aux_params = (512 * 128 + 128) + (528 * 128 + 128) + 2 * (2048 * 1024 + 1024 + 1024 * 1000 + 1000)
    assert aux_model.count_params() == 6_998_552 + aux_params == 13_378_280
    for number in (1, 2):
        assert aux_model.get_layer(f"aux{number}_ave_pool").output.shape[1:3] == (4, 4)  # 14x14, 5x5/3
        assert aux_model.get_layer(f"aux{number}_flatten").output.shape[1] == 4 * 4 * 128
        assert aux_model.get_layer(f"aux{number}_drop_fc").rate == 0.7
    assert aux_model.get_layer("aux1_ave_pool").input is aux_model.get_layer("inception_4a_output").output
    assert aux_model.get_layer("aux2_ave_pool").input is aux_model.get_layer("inception_4d_output").output


def _small(**kwargs):
    """GoogLeNet's builder on the small variant's modules (3a, 4a, 4d, 5b: the aux heads' endpoints are kept)."""
    aux_logits = kwargs.pop("aux_logits", False)
    arguments = KerasArguments(**{"weights": None, "name": "googlenet", **kwargs})
    return googlenet.build_googlenet(googlenet.SPEC, arguments, modules=googlenet.SMALL_MODULES, aux_logits=aux_logits)


def test_aux_model_trains_and_round_trips(tmp_path):
    size = googlenet.AUX_MIN_SIZE
    model = _small(aux_logits=True, classes=3, input_shape=(size, size, 3))  # a smaller graph to train
    model.compile(
        optimizer="sgd",
        loss=["sparse_categorical_crossentropy"] * 3,
        loss_weights=[1.0, googlenet.AUX_LOSS_WEIGHT, googlenet.AUX_LOSS_WEIGHT],
    )
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    y = np.array([0, 2])
    heads = ["predictions", "aux1_predictions", "aux2_predictions"]
    before = {name: model.get_layer(name).kernel.numpy().copy() for name in heads}
    losses = model.train_on_batch(x, [y, y, y])
    assert np.all(np.isfinite(losses))
    # One SGD step reaches every classifier: the auxiliary losses' gradients flow into their heads.
    for name in heads:
        assert not np.array_equal(model.get_layer(name).kernel.numpy(), before[name]), name
    randomize_weights(model, seed=1)  # softmax outputs of a fresh network are nearly uniform whatever the input
    outputs = forward(model, x)
    assert not np.allclose(outputs[0][0], outputs[0][1], atol=1e-4)  # the outputs depend on the input
    path = tmp_path / "googlenet_aux.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    for ours, theirs in zip(outputs, forward(restored, x)):
        np.testing.assert_array_equal(ours, theirs)
    inference = keras.Model(model.inputs, model.outputs[0])
    np.testing.assert_array_equal(forward(inference, x), outputs[0])


def test_weights_file_loads_into_main_network_of_aux_model(tmp_path):
    size = googlenet.AUX_MIN_SIZE
    plain = _small(classes=5, input_shape=(size, size, 3))
    rng = np.random.default_rng(1)
    for variable in plain.weights:
        variable.assign((rng.standard_normal(variable.shape) * 0.05).astype("float32"))
    path = tmp_path / "googlenet.weights.h5"
    plain.save_weights(path)
    x = rng.uniform(-1, 1, (2, size, size, 3)).astype("float32")
    aux = _small(aux_logits=True, classes=5, input_shape=(size, size, 3), weights=str(path))
    np.testing.assert_allclose(forward(aux, x)[0], assert_input_sensitive(plain, x), rtol=1e-5, atol=1e-6)


def test_aux_argument_checks():
    with pytest.raises(ValueError, match="requires `include_top=True`.*include_top=False"):
        GoogLeNet(aux_logits=True, include_top=False)
    with pytest.raises(TypeError, match="aux_logits='yes'"):
        GoogLeNet(aux_logits="yes")
    size = googlenet.AUX_MIN_SIZE - 1
    with pytest.raises(ValueError, match=rf"at least 79x79.*input_shape=\({size}, {size}, 3\)"):
        GoogLeNet(aux_logits=True, input_shape=(size, size, 3))


def test_imagenet_weights_are_not_published():
    with pytest.raises(ValueError, match="No 'imagenet' weights are published for GoogLeNet.*weights='imagenet'"):
        GoogLeNet(weights="imagenet")


def test_inception_v1_alias_and_min_size(built):
    assert googlenet.InceptionV1 is GoogLeNet
    spec = registry.get_spec("InceptionV1")
    assert spec.name == "GoogLeNet" and spec.preprocessing == "caffe" and spec.trainable_params == spec.params
    features = built("GoogLeNet", include_top=False, input_shape=(spec.min_size, spec.min_size, 3))
    assert features.output_shape == (None, 1, 1, 1024)
    with pytest.raises(ValueError):
        googlenet.googlenet_features(keras.Input((spec.min_size - 1, spec.min_size - 1, 3)))


def test_preprocess_input_is_caffe_mode():
    x = np.random.default_rng(2).uniform(0, 255, (1, 2, 2, 3)).astype("float32")
    np.testing.assert_allclose(
        googlenet.preprocess_input(x.copy()), imagenet_utils.preprocess_input(x.copy(), mode="caffe")
    )
    assert keras_archs.registry.get_spec("GoogLeNet").default_size == 224
