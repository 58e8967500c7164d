"""Where ``keras-archs train`` runs: one device, local data parallelism, several workers, TPUs.

:func:`place` turns ``strategy=`` and the Keras backend into a :class:`Placement`: the distribution object, this
process's role in the cluster (chief or not) and the number of replicas that share the global batch.

TensorFlow backend (``tf.distribute``):

* ``"mirrored"``: ``MirroredStrategy`` over the local devices.
* ``"multiworker"``: ``MultiWorkerMirroredStrategy`` over the cluster that ``TF_CONFIG`` describes (every worker gets
  the same cluster and its own ``task``), or, without ``TF_CONFIG``, the Slurm job step it runs in
  (``SlurmClusterResolver``; one task per worker, ``srun``). Collective ops must be configured before TensorFlow
  runs its first operation, so the strategy is the first thing :func:`keras_archs.train.train` creates; a process
  that already ran TensorFlow gets a :class:`StrategyOrderError` saying so.
* ``"tpu"``: ``TPUStrategy`` on the TPU that ``TPUClusterResolver`` finds (a Cloud TPU VM, or ``TPU_NAME``).

JAX backend (``keras.distribution``): ``"mirrored"`` is ``DataParallel`` over the local devices (``jax.devices()``:
GPUs, TPU cores, or CPU devices made with ``XLA_FLAGS=--xla_force_host_platform_device_count=N``). Other strategies
and other backends raise :class:`UnsupportedStrategyError` naming what is supported.

Keras 3's ``fit`` fails under ``MultiWorkerMirroredStrategy`` with more than one worker (keras-team/keras#20585,
tensorflow/tensorflow#72388): ``TensorFlowTrainer._maybe_symbolic_build`` reduces a *tuple* of per-replica values and
the multi-worker ``reduce_per_replica`` asks for ``axis=0`` on scalar metrics, neither of which
``CollectiveAllReduceStrategy.reduce`` accepts. :class:`KerasMultiWorkerMirroredStrategy` maps ``reduce`` over the
nest and reduces scalars across replicas only; tests/test_train_distributed.py checks that the stock strategy still
fails (so an upstream fix is noticed) and that ours trains two workers to the weights of one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from typing import Any

import tensorflow as tf

__all__ = [
    "STRATEGIES",
    "KerasMultiWorkerMirroredStrategy",
    "Placement",
    "StrategyOrderError",
    "UnsupportedStrategyError",
    "cluster_resolver",
    "make_strategy",
    "parse_tf_config",
    "place",
]

STRATEGIES = ("mirrored", "multiworker", "tpu")
# Job names MultiWorkerMirroredStrategy knows ("evaluator" runs outside the collective and is not supported here).
_JOBS = ("chief", "worker")
_TF_CONFIG_EXAMPLE = '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
_ADDRESS = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(?P<port>[0-9]{1,5})$")
# The Slurm variables SlurmClusterResolver reads (besides the GPU count); SLURM_PROCID is this task's rank.
_SLURM_VARIABLES = ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NODELIST", "SLURM_STEP_TASKS_PER_NODE")


class StrategyOrderError(RuntimeError):
    """A multi-worker strategy was asked for after TensorFlow had already run in this process."""


class UnsupportedStrategyError(ValueError):
    """The strategy does not exist for the Keras backend in use."""


def parse_tf_config(text: str) -> dict:
    """Checks a ``TF_CONFIG`` value for ``MultiWorkerMirroredStrategy`` and returns it parsed.

    Args:
        text: The JSON text of ``TF_CONFIG``.

    Returns:
        ``{"cluster": {job: [address, ...]}, "task": {"type": job, "index": i}}``.

    Raises:
        ValueError: Not JSON, or a missing or wrong field; the message names the field, the value received and the
            expected form.

    Example:
        >>> parse_tf_config('{"cluster": {"worker": ["localhost:2000", "localhost:2001"]},'
        ...                 ' "task": {"type": "worker", "index": 1}}')["task"]
        {'type': 'worker', 'index': 1}
    """

    def fail(problem: str) -> ValueError:
        return ValueError(f"TF_CONFIG {problem}. Received: TF_CONFIG={text!r}. Expected e.g. {_TF_CONFIG_EXAMPLE}")

    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise fail(f"is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise fail("must be a JSON object with 'cluster' and 'task'")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise fail("needs 'cluster': an object mapping job names ('chief', 'worker') to lists of 'host:port'")
    for job, addresses in cluster.items():
        if job not in _JOBS:
            raise fail(f"has job {job!r} in 'cluster'; MultiWorkerMirroredStrategy accepts {_JOBS}")
        if not isinstance(addresses, list) or not addresses:
            raise fail(f"needs a non-empty list of 'host:port' for job {job!r}")
        for address in addresses:
            match = _ADDRESS.match(address) if isinstance(address, str) else None
            if match is None or not 0 < int(match["port"]) < 65536:
                raise fail(f"has address {address!r} in job {job!r}; expected 'host:port' with a port in 1..65535")
    if len(cluster.get("chief", [])) > 1:
        raise fail("has more than one 'chief'")
    every = [address for addresses in cluster.values() for address in addresses]
    if len(set(every)) != len(every):
        raise fail("lists an address twice")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise fail("needs 'task': {'type': <job>, 'index': <int>} for this process")
    kind, index = task["type"], task["index"]
    if kind not in cluster:
        raise fail(f"has task type {kind!r}, which is not a job of 'cluster' ({sorted(cluster)})")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise fail(f"has task index {index!r}; job {kind!r} has {len(cluster[kind])} address(es)")
    return {"cluster": cluster, "task": {"type": kind, "index": index}}


def _slurm_resolver() -> Any:
    """TF's SlurmClusterResolver, on GPU nodes and CPU nodes alike.

    Without GPUs (``CUDA_VISIBLE_DEVICES`` empty, or no ``nvidia-smi``) TF 2.21's resolver would run ``nvidia-smi`` and
    fail, or with ``gpus_per_node=0`` step a ``range`` by zero GPUs per task (ValueError). CPU tasks get one pretend GPU
    slot each and no ``CUDA_VISIBLE_DEVICES`` is set (``auto_set_gpu=False``), which leaves the cluster it resolves
    unchanged.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = None if visible is None else len([device for device in visible.split(",") if device.strip()])
    if gpus is None and not shutil.which("nvidia-smi"):
        gpus = 0
    if gpus == 0:
        tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or 1)
        return tf.distribute.cluster_resolver.SlurmClusterResolver(
            gpus_per_node=tasks, gpus_per_task=1, auto_set_gpu=False
        )
    return tf.distribute.cluster_resolver.SlurmClusterResolver(gpus_per_node=gpus)


def cluster_resolver() -> Any:
    """The cluster this worker belongs to: ``TF_CONFIG`` first, else the Slurm job step it runs in.

    Returns:
        A ``tf.distribute.cluster_resolver.TFConfigClusterResolver`` or ``SlurmClusterResolver``.

    Raises:
        ValueError: ``TF_CONFIG`` is malformed (:func:`parse_tf_config`), or neither ``TF_CONFIG`` nor a Slurm job step
            describes a cluster.
    """
    text = os.environ.get("TF_CONFIG")
    if text is not None and text.strip():
        parse_tf_config(text)  # TF's own parser fails with a bare KeyError or a JSON traceback
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if all(name in os.environ for name in _SLURM_VARIABLES):
        return _slurm_resolver()
    raise ValueError(
        "strategy='multiworker' needs a cluster description: set TF_CONFIG on every worker (the same 'cluster', "
        f"its own 'task'), e.g. TF_CONFIG='{_TF_CONFIG_EXAMPLE}', or run each worker as a task of a Slurm job "
        f"step (srun sets {', '.join(_SLURM_VARIABLES)}). Received: no TF_CONFIG and no Slurm job step."
    )


class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """``MultiWorkerMirroredStrategy`` whose ``reduce`` takes what Keras 3's ``fit`` gives it.

    Keras 3.15 calls ``reduce("MEAN", (x, y), axis=None)`` on a tuple of per-replica values and
    ``reduce("MEAN", scalar, axis=0)`` on scalar losses and metrics (keras-team/keras#20585); the collective strategy
    accepts neither. This ``reduce`` maps over the nest and, for a rank-0 value, reduces across replicas only
    (``axis=None``), which is the mean Keras wants. Everything else is the stock strategy.
    """

    def reduce(self, reduce_op: Any, value: Any, axis: int | None = None) -> Any:
        def one(item: Any) -> Any:
            local = self.experimental_local_results(item)[0]
            rank = getattr(local, "shape", None)
            across = None if axis is not None and rank is not None and len(rank) == 0 else axis
            return super(KerasMultiWorkerMirroredStrategy, self).reduce(reduce_op, item, across)

        return tf.nest.map_structure(one, value)


def _multi_worker(resolver: Any) -> Any:
    try:
        return KerasMultiWorkerMirroredStrategy(cluster_resolver=resolver)
    except RuntimeError as error:
        if "program startup" not in str(error) and "collective" not in str(error).lower():
            raise
        raise StrategyOrderError(
            "strategy='multiworker' must be created before TensorFlow runs its first operation in this process "
            "(collective ops are configured at start-up). Run `keras-archs train --strategy multiworker` (or call "
            "keras_archs.train.train / make_strategy) first thing in a fresh process. "
            f"TensorFlow said: {error}"
        ) from None


def make_strategy(name: str | None) -> Any:
    """A ``tf.distribute`` strategy by name ("mirrored", "multiworker", "tpu"), or None for the default.

    Raises:
        ValueError: Unknown name; for "multiworker", a missing or malformed cluster description.
        StrategyOrderError: "multiworker" after TensorFlow already ran in this process.
    """
    if name is None:
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return _multi_worker(cluster_resolver())
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"strategy must be one of {STRATEGIES} or None. Received: strategy={name!r}")


@dataclasses.dataclass(frozen=True)
class Placement:
    """This process's part in a training run.

    Attributes:
        name: The strategy name (None: one device, no distribution).
        backend: The Keras backend.
        strategy: The ``tf.distribute.Strategy`` (TensorFlow) or ``keras.distribution.Distribution`` (JAX); None
            without distribution.
        replicas: Replicas that share the global batch (devices x workers).
        workers: Processes taking part (1 unless multi-worker).
        task_type: This process's job in the cluster ("chief", "worker"; None outside a cluster).
        task_id: Its index in that job.
        is_chief: Whether this process writes the run's files (``model.keras``, ``result.json``, logs).
        replicas_per_pipeline: Replicas one input pipeline feeds: 1 under "mirrored" (a pipeline per replica),
            the worker's devices under "multiworker", the host's cores under "tpu".
    """

    name: str | None
    backend: str
    strategy: Any
    replicas: int
    workers: int = 1
    task_type: str | None = None
    task_id: int = 0
    is_chief: bool = True
    replicas_per_pipeline: int = 1

    @property
    def uses_tf_distribute(self) -> bool:
        """Whether ``strategy`` is a ``tf.distribute.Strategy`` (input goes through its dataset functions)."""
        return self.strategy is not None and self.backend == "tensorflow"

    def scope(self) -> Any:
        """The context in which the model, optimizer and (for JAX) ``fit`` must live."""
        import contextlib

        return contextlib.nullcontext() if self.strategy is None else self.strategy.scope()

    def backup_name(self) -> str:
        """The ``BackupAndRestore`` folder of this process: ``backup`` for the chief, one per other task, so that
        workers sharing one ``out_dir`` (a network folder) never write the same file."""
        return "backup" if self.is_chief else f"backup_{self.task_type}_{self.task_id}"


def _check_backend(name: str, backend: str) -> None:
    if backend == "tensorflow" or (backend == "jax" and name == "mirrored"):
        return
    if backend == "jax":
        advice = (
            "on JAX, TPU cores and GPUs are local devices: use strategy='mirrored' (keras.distribution.DataParallel)"
            if name == "tpu"
            else "multi-process JAX needs keras.distribution.initialize() on every host (docs/distributed.md); "
            "this command runs it only on the TensorFlow backend"
        )
    else:
        advice = "train without a strategy on this backend, or use the TensorFlow or JAX backend"
    raise UnsupportedStrategyError(
        f"strategy={name!r} is not available on the {backend!r} Keras backend: {advice}. "
        "Supported: TensorFlow: 'mirrored', 'multiworker', 'tpu'; JAX: 'mirrored'."
    )


def place(name: str | None, backend: str | None = None) -> Placement:
    """Creates the distribution for ``name`` on ``backend`` and says what this process's part is.

    Args:
        name: None, "mirrored", "multiworker" or "tpu".
        backend: The Keras backend (default ``keras.backend.backend()``).

    Returns:
        A :class:`Placement`.

    Raises:
        ValueError: Unknown name; a missing or malformed ``TF_CONFIG``.
        UnsupportedStrategyError: The strategy does not exist on ``backend``.
        StrategyOrderError: "multiworker" after TensorFlow already ran in this process.
    """
    if name is not None and name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES} or None. Received: strategy={name!r}")
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if name is None:
        return Placement(None, backend, None, replicas=1)
    _check_backend(name, backend)
    if backend == "jax":
        import keras

        devices = keras.distribution.list_devices()
        return Placement(name, backend, keras.distribution.DataParallel(devices=devices), replicas=len(devices))
    strategy = make_strategy(name)
    if name == "mirrored":
        return Placement(name, backend, strategy, replicas=strategy.num_replicas_in_sync)
    if name == "tpu":
        per_host = int(strategy.extended.num_replicas_per_host)
        return Placement(
            name, backend, strategy, replicas=strategy.num_replicas_in_sync, replicas_per_pipeline=per_host
        )
    resolver = strategy.cluster_resolver
    spec = resolver.cluster_spec().as_dict()
    workers = sum(len(addresses) for job, addresses in spec.items() if job in _JOBS)
    return Placement(
        name,
        backend,
        strategy,
        replicas=strategy.num_replicas_in_sync,
        workers=workers,
        task_type=resolver.task_type,
        task_id=int(resolver.task_id),
        is_chief=bool(strategy.extended.should_checkpoint),
        replicas_per_pipeline=max(1, strategy.num_replicas_in_sync // workers),
    )
