"""keras_archs.compress: pruning, weight sharing, fine-tuning under constraints, deep_compress / load, the CLI."""

from __future__ import annotations

import hashlib
import os

import keras
import numpy as np
import pytest

from keras_archs import compress
from keras_archs.compress import archive, calibrate, finetune, prune, recipes, share


def tiny_model(name="tiny", seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((12, 12, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 255.0, name="scale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv_a")(x)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.ReLU(name="relu_a")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, name="conv_b", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="fc")(x)
    return keras.Model(inputs, outputs, name=name)


def tiny_data(n=192, seed=0):
    """Three classes told apart by where a bright square sits; learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.uniform(0, 40, (n, 12, 12, 1)).astype(np.float32)
    for i, label in enumerate(y):
        x[i, 4 * label : 4 * label + 4, 2:10] += 200
    return x, y.astype(np.int64)


# --- prune ----------------------------------------------------------------------------------------------------------


def test_polynomial_density_follows_zhu_gupta():
    assert prune.polynomial_density(0, 0.2, 0, 100) == 1.0
    assert prune.polynomial_density(100, 0.2, 0, 100) == pytest.approx(0.2)
    assert prune.polynomial_density(500, 0.2, 0, 100) == pytest.approx(0.2)
    # s_t = s_f + (s_i - s_f)(1 - t/n)^3 written for density.
    assert prune.polynomial_density(25, 0.2, 0, 100) == pytest.approx(0.2 + 0.8 * 0.75**3)
    values = [prune.polynomial_density(t, 0.3, 10, 60) for t in range(0, 80)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError, match="final_density"):
        prune.polynomial_density(1, 0.0, 0, 10)
    with pytest.raises(ValueError, match="end_step"):
        prune.polynomial_density(1, 0.5, 10, 10)


def test_magnitude_mask_keeps_largest_and_is_deterministic():
    kernel = np.array([[0.3, -0.9], [0.05, -0.3]])
    assert magnitude(kernel, 0.5).tolist() == [[True, True], [False, False]]  # -0.3 ties 0.3: earlier index wins
    rng = np.random.default_rng(0)
    big = rng.normal(size=(3, 3, 8, 16))
    mask = prune.magnitude_mask(big, 0.3)
    assert mask.sum() == round(0.3 * big.size)
    assert np.abs(big[mask]).min() >= np.abs(big[~mask]).max()
    for bad in (0, 1.5, -0.1, True, "0.5"):
        with pytest.raises(ValueError, match="density"):
            prune.magnitude_mask(big, bad)


def magnitude(kernel, density):
    return prune.magnitude_mask(kernel, density)


def test_prune_kernels_patterns_and_typos():
    model = tiny_model()
    masks = prune.prune_kernels(model, {"conv_b": 0.25, "fc": 0.5})
    assert set(masks) == {"conv_b", "fc"}
    assert np.count_nonzero(model.get_layer("conv_b").kernel.numpy()) == round(0.25 * 3 * 3 * 8 * 16)
    assert np.count_nonzero(model.get_layer("conv_a").kernel.numpy()) == 3 * 3 * 8
    with pytest.raises(ValueError, match="match no prunable layer"):
        prune.prune_kernels(tiny_model(), {"conv_x": 0.5})


# --- share ----------------------------------------------------------------------------------------------------------


def test_kmeans_linear_init_recovers_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([-1.0, 0.2, 3.0])
    values = np.concatenate([c + 0.01 * rng.normal(size=200) for c in centres])
    centroids, assignment = share.kmeans_1d(values, 3)
    np.testing.assert_allclose(centroids, centres, atol=0.01)
    np.testing.assert_array_equal(assignment, np.repeat([0, 1, 2], 200))
    # Lloyd's fixed point: every centroid is the mean of its members.
    for k, c in enumerate(centroids):
        assert c == pytest.approx(values[assignment == k].mean(), abs=1e-6)
    with pytest.raises(ValueError, match="clusters"):
        share.kmeans_1d(values, 0)
    with pytest.raises(ValueError, match="init"):
        share.kmeans_1d(values, 3, init="random")
    with pytest.raises(ValueError, match="finite"):
        share.kmeans_1d(np.array([1.0, np.nan]), 2)


def test_share_weights_reserves_code_zero_and_respects_mask():
    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(3, 3, 4, 8)).astype(np.float32)
    kernel[np.abs(kernel) < 0.5] = 0
    sharing = share.share_weights(kernel, 4)
    assert sharing.codebook[0] == 0 and sharing.codebook.size <= 16
    assert np.all((sharing.codes == 0) == (kernel == 0))
    assert np.all(sharing.codebook[1:] != 0)
    relative = np.linalg.norm(sharing.values() - kernel) / np.linalg.norm(kernel)
    assert relative < 0.1
    coarse = share.share_weights(kernel, 2)
    assert np.linalg.norm(coarse.values() - kernel) / np.linalg.norm(kernel) > relative
    with pytest.raises(ValueError, match="bits"):
        share.share_weights(kernel, 0)


def test_entropy_constrained_kmeans_trades_error_for_bits():
    rng = np.random.default_rng(2)
    kernel = rng.laplace(size=20000).astype(np.float32)
    plain = share.share_weights(kernel, 6)
    constrained = share.share_weights(kernel, 6, lam=0.05)
    assert share.code_entropy_bits(constrained.codes) < 0.9 * share.code_entropy_bits(plain.codes)
    assert np.mean((constrained.values() - kernel) ** 2) > np.mean((plain.values() - kernel) ** 2)
    with pytest.raises(ValueError, match="lam"):
        share.entropy_constrained_kmeans(kernel, 8, -1.0)


def test_compensated_codes_lower_output_error_than_rounding():
    rng = np.random.default_rng(3)
    # Correlated inputs: the case where pushing rounding errors onto other weights pays.
    mixing = rng.normal(size=(18, 18))
    inputs = rng.normal(size=(4000, 18)) @ mixing
    hessian = inputs.T @ inputs / len(inputs)
    kernel = rng.normal(size=(3, 3, 2, 5)).astype(np.float32)
    kernel[np.abs(kernel) < 0.3] = 0
    sharing = share.share_weights(kernel, 3)
    codes = share.compensated_codes(kernel, sharing.codebook, hessian, damp=0.01)
    assert np.all((codes == 0) == (kernel == 0))
    flat = lambda k: k.reshape(-1, 5)  # noqa: E731

    def output_error(values):
        return np.mean((inputs @ (flat(values) - flat(kernel))) ** 2)

    assert output_error(sharing.codebook[codes]) < 0.9 * output_error(sharing.values())
    with pytest.raises(ValueError, match="hessian"):
        share.compensated_codes(kernel, sharing.codebook, np.eye(4))


def test_synthetic_images_are_deterministic_natural_statistics():
    a = calibrate.synthetic_images(3, 32, seed=5)
    b = calibrate.synthetic_images(3, 32, seed=5)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 255
    # Neighbouring pixels are strongly correlated (1/f spectrum), unlike white noise.
    image = a[0, :, :, 0]
    correlation = np.corrcoef(image[:, :-1].ravel(), image[:, 1:].ravel())[0, 1]
    assert correlation > 0.5  # white noise: ~0
    with pytest.raises(ValueError, match="count"):
        calibrate.synthetic_images(0, 8)


def test_layer_input_hessians_match_explicit_patches():
    model = tiny_model()
    x, _ = tiny_data(8)
    hessians = calibrate.layer_input_hessians(model, x, ["conv_b", "fc"])
    assert hessians["conv_b"].shape == (72, 72) and hessians["fc"].shape == (16, 16)
    probe = keras.Model(model.inputs, model.get_layer("fc").input)
    features = np.asarray(probe(x)).astype(np.float64)
    np.testing.assert_allclose(hessians["fc"], features.T @ features / len(features), rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError, match="not a Conv2D or Dense"):
        calibrate.layer_input_hessians(model, x, ["bn_a"])


# --- fine-tuning under constraints ---------------------------------------------------------------------------------


def test_constrained_trainer_keeps_masks_and_shared_values():
    model = tiny_model()
    x, y = tiny_data()
    masks = prune.prune_kernels(model, {"conv_b": 0.3})
    sharing = share.share_weights(model.get_layer("fc").kernel.numpy(), 2)
    trainer = finetune.ConstrainedTrainer(model, masks=masks, shared={"fc": (sharing.codebook, sharing.codes)})
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    before = model.get_layer("fc").kernel.numpy().copy()
    trainer.fit(x, y, epochs=2, batch_size=32, verbose=0)
    conv_b = model.get_layer("conv_b").kernel.numpy()
    assert np.all(conv_b[~masks["conv_b"]] == 0)
    fc = model.get_layer("fc").kernel.numpy()
    codebook, codes = trainer.codebooks()["fc"]
    np.testing.assert_array_equal(codes, sharing.codes)
    np.testing.assert_allclose(fc, codebook[codes])
    assert len(np.unique(fc)) <= 4 and not np.allclose(fc, before)  # centroids moved, still at most 3 + zero


def test_centroid_gradient_is_the_sum_over_its_cluster():
    model = tiny_model()
    x, y = tiny_data(32)
    sharing = share.share_weights(model.get_layer("fc").kernel.numpy(), 2)
    trainer = finetune.ConstrainedTrainer(model, shared={"fc": (sharing.codebook, sharing.codes)})
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    import tensorflow as tf

    kernel = model.get_layer("fc").kernel
    with tf.GradientTape() as tape:
        loss = keras.losses.sparse_categorical_crossentropy(y, model(x, training=True))
        loss = tf.reduce_mean(loss)
    gradient = tape.gradient(loss, kernel).numpy()
    expected = sharing.codebook[1:] - 0.1 * np.array(
        [gradient[sharing.codes == k].sum() for k in range(1, sharing.codebook.size)]
    )
    trainer.train_on_batch(x, y)
    np.testing.assert_allclose(trainer.codebooks()["fc"][0][1:], expected, rtol=1e-4, atol=1e-6)


def test_gradual_pruning_reaches_target_density():
    model = tiny_model()
    x, y = tiny_data()
    schedule = prune.PruningSchedule(begin_step=0, end_step=8, frequency=2)
    trainer = finetune.ConstrainedTrainer(model, target_densities={"conv_b": 0.2}, schedule=schedule)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    trainer.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[finetune.PruningStep(trainer)])
    kernel = model.get_layer("conv_b").kernel.numpy()
    assert np.count_nonzero(kernel) == round(0.2 * kernel.size)
    with pytest.raises(ValueError, match="PruningSchedule"):
        finetune.ConstrainedTrainer(tiny_model(), target_densities={"conv_b": 0.2})
    with pytest.raises(ValueError, match="Not prunable"):
        finetune.ConstrainedTrainer(tiny_model(), masks={"bn_a": np.ones(3, bool)})


# --- deep_compress / load -----------------------------------------------------------------------------------------


def test_deep_compress_without_data_round_trips_and_is_deterministic(tmp_path):
    model = tiny_model()
    recipe = recipes.CompressionRecipe("t", bits={"fc": 3, "*": 4}, densities={"conv_b": 0.5, "*": 1.0})
    first = compress.deep_compress(model, recipe=recipe)
    second = compress.deep_compress(model, recipe=recipe)
    assert first.to_bytes() == second.to_bytes()
    # The caller's model is untouched.
    assert np.count_nonzero(model.get_layer("conv_b").kernel.numpy()) == model.get_layer("conv_b").kernel.numpy().size
    path = tmp_path / "tiny.kadc"
    assert first.save(path) == first.size_bytes == os.path.getsize(path)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # like open(path, "wb"), not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.kadc"]
    loaded = compress.load(path)
    x, _ = tiny_data(16)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(first.model(x)))
    assert loaded.name == "tiny"
    for layer in ("conv_a", "conv_b", "fc"):
        assert len(np.unique(loaded.get_layer(layer).kernel.numpy())) <= 2 ** (3 if layer == "fc" else 4)
    rows = first.report()
    assert rows[-1]["total"] == first.size_bytes
    assert [r["key"] for r in rows[:3]] == ["conv_a/kernel", "conv_b/kernel", "fc/kernel"]
    assert "conv_b/kernel" in first.report_table()


def test_deep_compress_with_fine_tuning_keeps_accuracy():
    x, y = tiny_data(384)
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    recipe = recipes.CompressionRecipe(
        "t", bits=3, densities={"conv_b": 0.3, "fc": 0.5, "*": 1.0}, prune_epochs=2, share_epochs=1, learning_rate=3e-3
    )
    result = compress.deep_compress(model, recipe=recipe, train_data=(x, y), val_data=(x, y), batch_size=32, verbose=0)
    kernel = result.model.get_layer("conv_b").kernel.numpy()
    assert np.count_nonzero(kernel) == round(0.3 * kernel.size)
    assert result.metadata["val_accuracy_before"] >= 0.9  # the model learnt the task, so "kept" means something
    assert result.metadata["val_accuracy_after"] >= result.metadata["val_accuracy_before"] - 0.05
    assert result.metadata["fine_tune_epochs"] == {"prune": 2, "share": 1}
    loaded = compress.load(result.to_bytes())
    assert compress.evaluate_accuracy(loaded, (x, y)) == pytest.approx(result.metadata["val_accuracy_after"])


def test_recipes_and_errors():
    assert compress.recipe_for("SqueezeNet1_0").name == "squeezenet1_0_imagenet"
    assert compress.recipe_for(tiny_model("whatever")).name == "deep_compression"
    with pytest.raises(ValueError, match="Unknown compression recipe"):
        compress.get_recipe("nope")
    with pytest.raises(ValueError, match="quantizer"):
        recipes.CompressionRecipe("x", quantizer="lloyd")
    with pytest.raises(ValueError, match="bits"):
        recipes.CompressionRecipe("x", bits={"*": 0})
    with pytest.raises(ValueError, match="epochs"):
        compress.deep_compress(tiny_model(), recipe="deep_compression", epochs=-1)
    with pytest.raises(ValueError, match="no bits"):
        compress.deep_compress(tiny_model(), recipe=recipes.CompressionRecipe("x", bits={"fc": 4}))


def test_load_rejects_foreign_and_inconsistent_archives(tmp_path):
    other = archive.encode(config={"x": 1}, shared=[], dense={}, metadata={"format": "other"})
    with pytest.raises(archive.ArchiveCorruptError, match="format"):
        compress.load(other)
    result = compress.deep_compress(tiny_model(), recipe="deep_compression")
    dense = dict(result.dense)
    dense.pop(next(iter(dense)))
    broken = archive.encode(config=result.config, shared=result.shared, dense=dense, metadata=result.metadata)
    with pytest.raises(archive.ArchiveCorruptError, match="missing"):
        compress.load(broken)
    data = bytearray(result.to_bytes())
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(archive.ArchiveCorruptError):
        compress.load(bytes(data))
    with pytest.raises(FileNotFoundError):
        compress.load(tmp_path / "missing.kadc")


def test_cli_compress_and_decompress(tmp_path, capsys):
    from keras_archs import cli

    source = tmp_path / "tiny.keras"
    tiny_model().save(source)
    out = tmp_path / "tiny.kadc"
    assert cli.main(["compress", str(source), "--out", str(out), "--recipe", "deep_compression"]) == 0
    assert "fc/kernel" in capsys.readouterr().out
    restored = tmp_path / "restored.keras"
    assert cli.main(["decompress", str(out), "--out", str(restored)]) == 0
    model = keras.saving.load_model(restored)
    np.testing.assert_array_equal(
        model.get_layer("fc").kernel.numpy(), compress.load(out).get_layer("fc").kernel.numpy()
    )
    assert cli.main(["compress", str(source), "--out", str(tmp_path / "x.zip")]) == 2
    assert ".kadc" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()


def test_compensated_recipe_is_deterministic_and_uses_calibration_data():
    model = tiny_model()
    x, _ = tiny_data(64)
    recipe = recipes.CompressionRecipe("c", bits=3, compensate=True, calibration_images=32)
    first = compress.deep_compress(model, recipe=recipe, calibration_data=x)
    again = compress.deep_compress(model, recipe=recipe, calibration_data=x)
    assert first.to_bytes() == again.to_bytes()
    # Without calibration data the quantizer calibrates on synthetic images: other statistics, other codes.
    assert compress.deep_compress(model, recipe=recipe).to_bytes() != first.to_bytes()
    plain = compress.deep_compress(model, recipe=recipe.with_overrides(compensate=False))
    probe = keras.Model(model.inputs, model.get_layer("fc").input)
    features = np.asarray(probe(x))

    def fc_output_error(result):
        return np.mean(
            (features @ (result.model.get_layer("fc").kernel.numpy() - model.get_layer("fc").kernel.numpy())) ** 2
        )

    # Measured: 1.7e-5 compensated vs 4.1e-5 plain rounding; a quantizer that ignored the statistics would tie.
    assert fc_output_error(first) < 0.7 * fc_output_error(plain)


def test_layer_input_hessians_reach_into_nested_models():
    inner = tiny_model("backbone")
    pixels = keras.Input((12, 12, 1), name="raw")
    outer = keras.Model(pixels, inner(keras.layers.Rescaling(2.0, name="pre")(pixels)), name="wrapper")
    x, _ = tiny_data(8)
    hessians = calibrate.layer_input_hessians(outer, x, ["fc"])
    features = np.asarray(keras.Model(inner.inputs, inner.get_layer("fc").input)(x * 2.0)).astype(np.float64)
    np.testing.assert_allclose(hessians["fc"], features.T @ features / len(features), rtol=1e-5, atol=1e-8)


# --- the archive bytes are pinned ------------------------------------------------------------------------------------


def pinned_model():
    """``tiny_model``'s layers with weights drawn by NumPy, so the bytes do not depend on Keras' initialisers."""
    model = tiny_model("pinned")
    rng = np.random.default_rng(2024)
    for variable in model.weights:
        shape = tuple(variable.shape)
        value = rng.uniform(0.5, 1.5, shape) if "variance" in variable.path else rng.standard_normal(shape) * 0.1
        variable.assign(value.astype("float32"))
    return model


# sha256 of the archive's tensors and metadata (the Keras config left out: it changes with Keras versions), recorded
# with deep_compress as it was before it became a sequence of stages (commit 2cada2d); any change to what a recipe
# does, or to the encoder, shows here.
PINNED_SHA256 = {
    "default": "688dff4886fd80fab85743560735c6263e980f21547fdcd3f7ca7e4fd595b7fc",
    "pruned": "1ea3be7f016a9b6367e26bd915393186d419350592890801d453918df54d8ce9",
    "float16_ecsq": "d6bc2eff0739f2b27a6ad5d998ef9825bd1f30a6b8cddf458ffc7f8b13f5025f",
}
PINNED_RECIPES = {
    "default": None,  # recipe_for(an unregistered model) = "deep_compression": 8-bit conv, 5-bit fc, no pruning
    "pruned": recipes.CompressionRecipe("pinned_pruned", bits={"fc": 3, "*": 4}, densities={"conv_b": 0.5, "*": 1.0}),
    "float16_ecsq": recipes.CompressionRecipe(
        "pinned_f16",
        bits=6,
        densities=0.6,
        quantizer="ecsq",
        lam=0.05,
        bias_dtype="float16",
        codebook_dtype="float16",
    ),
}


@pytest.mark.parametrize("name", sorted(PINNED_RECIPES))
def test_archive_bytes_are_pinned(name):
    result = compress.deep_compress(pinned_model(), recipe=PINNED_RECIPES[name])
    body = archive.encode(config={}, shared=result.shared, dense=result.dense, metadata=result.metadata)
    assert hashlib.sha256(body).hexdigest() == PINNED_SHA256[name]
