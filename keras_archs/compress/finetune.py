"""Fine-tuning under the compression constraints: pruning masks and shared weights (Deep Compression §2, §3.3).

:class:`ConstrainedTrainer` wraps a Keras 3 model and trains it with ``fit`` (progress bar, callbacks, validation)
while keeping the constraints exact after every step:

* pruned kernels: the gradient is masked and the kernel re-masked after the optimizer step (optimizer momentum
  cannot revive a pruned weight); with a :class:`~keras_archs.compress.prune.PruningSchedule` the masks shrink
  gradually (recomputed by magnitude at the schedule's steps);
* shared kernels: the trainable variables are the *centroids*; the kernel is ``take(centroids, codes) * mask``.
  The centroid gradient is the sum of the gradients of the weights in its cluster (the paper's eq. 3), taken from the
  kernel's gradient with one ``unsorted_segment_sum``; the kernel is rebuilt from the centroids after every step.

Everything else (biases, batch-norm) trains normally. The wrapped model is the one updated; drop the trainer after
``fit``. TensorFlow backend (the package's backend).
"""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np

from keras_archs.compress.prune import PruningSchedule, prunable_weights

__all__ = ["ConstrainedTrainer"]


class ConstrainedTrainer(keras.Model):
    """Trains ``model`` with fixed or scheduled pruning masks and/or shared weights.

    Args:
        model: The Keras model to fine-tune (updated in place).
        masks: ``{layer_name: bool mask}`` fixed masks (kept weights True).
        target_densities: ``{layer_name: density}`` for gradual pruning along ``schedule``; the mask of such a layer
            starts as ``masks.get(name)`` or all-True.
        schedule: The :class:`PruningSchedule` (needed with ``target_densities``).
        shared: ``{layer_name: (codebook, codes)}`` from weight sharing: the layer's kernel becomes
            ``codebook[codes]`` with trainable ``codebook[1:]`` (code 0 is the pruned zero and stays 0).

    Raises:
        ValueError: A name that is not a prunable layer of ``model``, shapes that disagree, or target densities
            without a schedule.
    """

    def __init__(
        self,
        model: keras.Model,
        masks: Mapping[str, np.ndarray] | None = None,
        target_densities: Mapping[str, float] | None = None,
        schedule: PruningSchedule | None = None,
        shared: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
        **kwargs,
    ):
        super().__init__(name=f"{model.name}_constrained", **kwargs)
        import tensorflow as tf

        self.inner = model
        masks, target_densities, shared = dict(masks or {}), dict(target_densities or {}), dict(shared or {})
        if target_densities and schedule is None:
            raise ValueError("target_densities needs a PruningSchedule (schedule=...).")
        self.schedule = schedule
        kernels = dict(prunable_weights(model))
        unknown = sorted((set(masks) | set(target_densities) | set(shared)) - set(kernels))
        if unknown:
            raise ValueError(f"Not prunable layers of {model.name!r}: {unknown}. Prunable: {sorted(kernels)}")
        self._masked = []  # (name, kernel variable, mask variable)
        self._targets = {name: float(d) for name, d in target_densities.items()}
        for name in sorted(set(masks) | set(target_densities), key=list(kernels).index):
            if name in shared:
                continue  # a shared kernel's zeros are code 0
            kernel = kernels[name]
            mask = np.asarray(masks.get(name, np.ones(kernel.shape, bool)), bool)
            if mask.shape != tuple(kernel.shape):
                raise ValueError(f"Mask of {name!r} has shape {mask.shape}; the kernel has {tuple(kernel.shape)}.")
            mask_variable = tf.Variable(mask.astype(kernel.dtype), trainable=False, name=f"{name}_mask")
            self._masked.append((name, kernel, mask_variable))
        self._shared = []  # (name, kernel variable, centroid keras.Variable, codes tensor)
        for name, (codebook, codes) in shared.items():
            kernel = kernels[name]
            codes = np.asarray(codes)
            codebook = np.asarray(codebook, np.float32)
            if codes.shape != tuple(kernel.shape):
                raise ValueError(f"Codes of {name!r} have shape {codes.shape}; the kernel has {tuple(kernel.shape)}.")
            if codebook.size == 0 or codebook[0] != 0 or codes.min() < 0 or codes.max() >= codebook.size:
                raise ValueError(
                    f"Shared weights of {name!r}: need codebook[0] == 0 and codes in [0, {codebook.size})."
                )
            centroids = keras.Variable(codebook[1:], trainable=True, name=f"{name}_centroids")
            self._shared.append((name, kernel, centroids, tf.constant(codes.astype(np.int32))))
            kernel.assign(codebook[codes])
        constrained = {id(kernel) for _, kernel, _ in self._masked} | {id(kernel) for _, kernel, _, _ in self._shared}
        self._free = [v for v in model.trainable_weights if id(v) not in constrained]
        self._masked_kernels = [kernel for _, kernel, _ in self._masked]
        self._shared_kernels = [kernel for _, kernel, _, _ in self._shared]
        self._centroids = [centroids for _, _, centroids, _ in self._shared]
        self._step = 0

    def call(self, inputs, training=False):
        return self.inner(inputs, training=training)

    def train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            self._loss_tracker.update_state(loss, sample_weight=tf.shape(tf.nest.flatten(x)[0])[0])
            scaled = self.optimizer.scale_loss(loss)
        sources = self._free + self._masked_kernels + self._shared_kernels
        gradients = tape.gradient(scaled, sources)
        n_free, n_masked = len(self._free), len(self._masked_kernels)
        free_grads = gradients[:n_free]
        masked_grads = [g * m for g, (_, _, m) in zip(gradients[n_free : n_free + n_masked], self._masked)]
        centroid_grads = []
        for gradient, (_, _, centroids, codes) in zip(gradients[n_free + n_masked :], self._shared):
            # d loss / d centroid_k = sum of d loss / d w over the weights with code k (Han et al. 2016, eq. 3).
            summed = tf.math.unsorted_segment_sum(
                tf.reshape(gradient, [-1]), tf.reshape(codes, [-1]), num_segments=centroids.shape[0] + 1
            )
            centroid_grads.append(summed[1:])
        self.optimizer.apply(
            free_grads + masked_grads + centroid_grads, self._free + self._masked_kernels + self._centroids
        )
        self._apply_constraints()
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _apply_constraints(self):
        import tensorflow as tf

        for _, kernel, mask in self._masked:
            kernel.assign(kernel * mask)
        for _, kernel, centroids, codes in self._shared:
            table = tf.concat([tf.zeros([1], centroids.dtype), tf.convert_to_tensor(centroids)], axis=0)
            kernel.assign(tf.gather(table, codes))

    # -- gradual pruning ------------------------------------------------------------------------------------------
    def update_masks(self, step: int) -> bool:
        """Recomputes the scheduled masks by magnitude for optimizer step ``step``; True if anything changed."""
        if not self._targets or not self.schedule.updates_at(step):
            return False
        for name, kernel, mask in self._masked:
            if name not in self._targets:
                continue
            density = self.schedule.density(step, self._targets[name])
            values = np.abs(kernel.numpy()).reshape(-1)
            keep = int(round(density * values.size))
            new = np.zeros(values.size, bool)
            new[np.argsort(-values, kind="stable")[:keep]] = True
            mask.assign(new.reshape(mask.shape).astype(mask.dtype.as_numpy_dtype))
            kernel.assign(kernel * mask)
        return True

    def masks(self) -> dict[str, np.ndarray]:
        """Current masks ``{layer_name: bool array}`` of the masked (not shared) kernels."""
        return {name: mask.numpy().astype(bool) for name, _, mask in self._masked}

    def codebooks(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Current ``{layer_name: (codebook, codes)}`` of the shared kernels (codebook[0] = 0)."""
        out = {}
        for name, _, centroids, codes in self._shared:
            out[name] = (np.concatenate([[0.0], centroids.numpy()]).astype(np.float32), codes.numpy())
        return out


class PruningStep(keras.callbacks.Callback):
    """Calls :meth:`ConstrainedTrainer.update_masks` before each batch (the role of tfmot's ``UpdatePruningStep``)."""

    def __init__(self, trainer: ConstrainedTrainer):
        super().__init__()
        self.trainer = trainer
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.trainer.update_masks(self.step)
        self.step += 1

    def on_train_end(self, logs=None):
        if self.trainer.schedule is not None:
            self.trainer.update_masks(self.trainer.schedule.end_step)  # land exactly on the target densities
