"""Issue target 1: the real Deep Compression SqueezeNet 1.0 re-compressed by ``deep_compress(model)`` with no data.

The default recipe is chosen data-free (synthetic images); the photos here only measure it: top-1 agreement with the
8-bit original on multi-crops of scikit-image's photos that the original is confident about (max probability > 0.3).
"""

from __future__ import annotations

import numpy as np
import pytest

from keras_archs import compress, demo
from keras_archs.applications import squeezenet

PUBLISHED_BYTES = 675_763


def multi_crops(size=227):
    pytest.importorskip("skimage.data", reason="scikit-image (test extra) gives the sample photos")
    return squeezenet.preprocess_input(demo.photo_multi_crops(size))


@pytest.fixture(scope="module")
def original(dc_net_path):
    return squeezenet.SqueezeNet(weights=dc_net_path)


@pytest.fixture(scope="module")
def recompressed(original):
    return compress.deep_compress(original)


def test_default_recipe_is_the_data_free_squeezenet_recipe(recompressed):
    assert recompressed.metadata["recipe"]["name"] == "squeezenet1_0_imagenet"
    assert recompressed.metadata["fine_tune_epochs"] == {"prune": 0, "share": 0}


def test_archive_is_under_400_kb(recompressed):
    size = recompressed.size_bytes
    assert size < 400_000, recompressed.report_table()
    assert size < 0.6 * PUBLISHED_BYTES


def test_sparsity_pattern_of_the_published_model_is_kept(original, recompressed):
    for layer in original.layers:
        if hasattr(layer, "kernel") and layer.kernel is not None:
            before = layer.kernel.numpy() != 0
            after = recompressed.model.get_layer(layer.name).kernel.numpy() != 0
            np.testing.assert_array_equal(before, after)


def run(model, x, batch_size=40):
    return np.concatenate(
        [np.asarray(model(x[i : i + batch_size], training=False)) for i in range(0, len(x), batch_size)]
    )


def test_decoded_model_agrees_with_the_8bit_original_on_real_photos(original, recompressed):
    x = multi_crops()
    reference = run(original, x)
    decoded = compress.load(recompressed.to_bytes())
    predicted = run(decoded, x)
    confident = reference.max(axis=1) > 0.3
    assert confident.sum() >= 40
    agreement = np.mean(predicted.argmax(1)[confident] == reference.argmax(1)[confident])
    kl = np.sum(reference * (np.log(reference + 1e-12) - np.log(predicted + 1e-12)), axis=1)[confident].mean()
    assert agreement >= 0.9, f"agreement {agreement:.3f}, KL {kl:.4f}"
    assert kl < 0.2
    # The archive decodes to exactly the compressed model held in memory (every weight, bit for bit).
    assert len(decoded.weights) == len(recompressed.model.weights)
    for stored, held in zip(decoded.weights, recompressed.model.weights):
        assert stored.path == held.path
        np.testing.assert_array_equal(stored.numpy(), held.numpy())


@pytest.mark.slow
def test_compression_without_fine_tuning_is_deterministic(original, recompressed):
    assert compress.deep_compress(original).to_bytes() == recompressed.to_bytes()
