"""Distributed training: TF_CONFIG / Slurm clusters, the strategy order, two workers on loopback ports, resume.

The two-worker runs start ``keras-archs train --strategy multiworker`` twice with TF_CONFIG on free loopback ports
(each bounded in time; a hung worker is killed and the test fails with both logs). They are in the slow lane
(`make test-slow`): each run starts two TensorFlow processes.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest

from keras_archs.cli import train as train_command
from keras_archs.train import loop, strategies

FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} absent (Debian package dataset-fashion-mnist; `make data`)"
)
# A run small enough for two CPU workers: CifarResNet20, global batch 64, no shuffle and no augmentation so that the
# replicas' examples are fixed, evaluated on the first 100 validation and test images.
RUN = [
    "train",
    "CifarResNet20",
    "--data",
    "fashion_mnist",
    "--batch-size",
    "64",
    "--eval-limit",
    "100",
    "--no-shuffle",
    "--no-augment",
]
WORKER_TIMEOUT = 480  # seconds for one multi-worker run (measured 1-2.5 min on the loaded 2-core machine)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("localhost", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _tf_config(ports: list[int], index: int) -> str:
    workers = [f"localhost:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def _environment(**extra: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CONFIG", "KERAS_BACKEND")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", **extra)
    return env


def _start_workers(tmp: pathlib.Path, outs: list[pathlib.Path], args: list[str], name: str) -> list:
    ports = _free_ports(len(outs))
    workers = []
    for index, out in enumerate(outs):
        log = open(tmp / f"{name}_{index}.log", "w")
        command = [sys.executable, "-m", "keras_archs.cli", *args, "--strategy", "multiworker", "--out", str(out)]
        env = _environment(TF_CONFIG=_tf_config(ports, index))
        workers.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    return workers


def _finish(workers: list, timeout: float = WORKER_TIMEOUT) -> list[str]:
    deadline = time.monotonic() + timeout
    for process, _ in workers:
        try:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    hung = [process for process, _ in workers if process.poll() is None]
    for process in hung:
        process.kill()
        process.wait()
    logs = []
    for _, log in workers:
        log.close()
        logs.append(pathlib.Path(log.name).read_text()[-4000:])
    assert not hung, f"a worker ran past {timeout} s:\n" + "\n----\n".join(logs)
    for (process, _), text in zip(workers, logs):
        assert process.returncode == 0, text
    return logs


def _weights(path: pathlib.Path) -> list[np.ndarray]:
    import keras_archs.applications  # noqa: F401  (registers the custom layers the file names)

    return [np.asarray(w) for w in keras.saving.load_model(path).weights]


# ----- TF_CONFIG, Slurm and the strategy order (default lane) ------------------------------------------------------


@pytest.mark.parametrize(
    "text, match",
    [
        ("{cluster: 1}", "is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"task": {"type": "worker", "index": 0}}', "needs 'cluster'"),
        ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "has job 'ps'"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "has address 'localhost'"),
        ('{"cluster": {"worker": ["h:99999"]}, "task": {"type": "worker", "index": 0}}', "port in 1..65535"),
        ('{"cluster": {"worker": ["h:1", "h:1"]}, "task": {"type": "worker", "index": 0}}', "lists an address twice"),
        ('{"cluster": {"worker": ["h:1"]}}', "needs 'task'"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief'"),
        ('{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 2}}', "task index 2"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": "0"}}', "task index '0'"),
    ],
)
def test_malformed_tf_config_is_named(text, match):
    with pytest.raises(ValueError, match=match) as info:
        strategies.parse_tf_config(text)
    assert "Received: TF_CONFIG=" in str(info.value) and "Expected e.g." in str(info.value)


def test_tf_config_with_chief_and_ipv6_parses():
    text = '{"cluster": {"chief": ["[::1]:2000"], "worker": ["h:2001"]}, "task": {"type": "chief", "index": 0}}'
    assert strategies.parse_tf_config(text)["cluster"] == {"chief": ["[::1]:2000"], "worker": ["h:2001"]}


def test_no_cluster_description_is_a_clear_error(monkeypatch):
    for name in ("TF_CONFIG", *strategies._SLURM_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="needs a cluster description: set TF_CONFIG.*or run each worker as a task"):
        strategies.cluster_resolver()


def test_slurm_job_step_gives_the_cluster(monkeypatch):
    # What srun sets for task 1 of 2 tasks on node01 and node02 (SlurmClusterResolver expands the host list itself).
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # a CPU job: no GPU to hand out (no nvidia-smi needed)
    for name, value in {
        "SLURM_PROCID": "1",
        "SLURM_STEP_NUM_TASKS": "2",
        "SLURM_STEP_NODELIST": "node[01-02]",
        "SLURM_STEP_TASKS_PER_NODE": "1(x2)",
    }.items():
        monkeypatch.setenv(name, value)
    resolver = strategies.cluster_resolver()
    assert resolver.cluster_spec().as_dict() == {"worker": ["node01:8888", "node02:8888"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)


def test_tf_config_wins_over_slurm(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 1}}')
    for name in strategies._SLURM_VARIABLES:
        monkeypatch.setenv(name, "1")
    resolver = strategies.cluster_resolver()
    assert resolver.cluster_spec().as_dict() == {"worker": ["h:1", "h:2"]} and resolver.task_id == 1


def test_multiworker_after_tensorflow_ran_says_why(monkeypatch):
    import tensorflow as tf

    float(tf.constant(1.0) + 1.0)  # this process has run TensorFlow: collectives can no longer be configured
    monkeypatch.setenv("TF_CONFIG", _tf_config(_free_ports(1), 0))
    with pytest.raises(strategies.StrategyOrderError, match="must be created before TensorFlow runs its first"):
        strategies.make_strategy("multiworker")


def test_strategies_that_a_backend_lacks_are_named():
    with pytest.raises(strategies.UnsupportedStrategyError, match="'tpu' is not available on the 'jax'.*'mirrored'"):
        strategies.place("tpu", backend="jax")
    with pytest.raises(strategies.UnsupportedStrategyError, match="'multiworker' is not available on the 'jax'"):
        strategies.place("multiworker", backend="jax")
    with pytest.raises(strategies.UnsupportedStrategyError, match="'mirrored' is not available on the 'torch'"):
        strategies.place("mirrored", backend="torch")
    with pytest.raises(ValueError, match="strategy must be one of"):
        strategies.place("horovod", backend="tensorflow")
    assert strategies.place(None, backend="torch").replicas == 1


def test_placement_names_one_backup_folder_per_task():
    chief = strategies.Placement("multiworker", "tensorflow", None, replicas=2, workers=2, task_type="worker")
    other = strategies.Placement(
        "multiworker", "tensorflow", None, replicas=2, workers=2, task_type="worker", task_id=1, is_chief=False
    )
    assert chief.backup_name() == "backup" and other.backup_name() == "backup_worker_1"


def test_cli_multiworker_without_or_with_bad_tf_config_fails_cleanly(tmp_path, monkeypatch, capsys):
    from keras_archs import cli

    for name in ("TF_CONFIG", *strategies._SLURM_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "run"
    assert cli.main(["train", "CifarResNet20", "--strategy", "multiworker", "--out", str(out)]) == 2
    assert "needs a cluster description" in capsys.readouterr().err
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker"}}')
    assert cli.main(["train", "CifarResNet20", "--strategy", "multiworker", "--out", str(out)]) == 2
    assert "keras-archs train: error: TF_CONFIG needs 'task'" in capsys.readouterr().err
    assert not out.exists()  # nothing written for a refused run


def test_cli_backend_must_be_chosen_before_keras():
    assert keras.backend.backend() == "tensorflow"
    train_command.select_backend("tensorflow")  # the backend already running: fine
    with pytest.raises(ValueError, match="--backend jax must be chosen before Keras is imported"):
        train_command.select_backend("jax")
    args = train_command_parser().parse_args(["train", "X", "--out", "o", "--backend", "jax", "--no-augment"])
    assert (args.backend, args.augment, args.shuffle) == ("jax", False, True)


def test_cli_backend_is_chosen_before_tensorflow_starts(tmp_path):
    # A fresh `keras-archs train --backend jax`: the command line starts TensorFlow quietly before running a command,
    # and importing TensorFlow imports Keras, so the backend must be set first (it was not: every --backend jax run
    # failed with "must be chosen before Keras is imported").
    script = (
        "import keras_archs.cli as cli, sys; "
        f"code = cli.main(['train', 'NoSuchModel', '--backend', 'jax', '--out', {str(tmp_path / 'run')!r}]); "
        "import keras; print(code, keras.backend.backend())"
    )
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.stdout.split()[-2:] == ["2", "jax"], done.stdout + done.stderr[-2000:]
    assert "Unknown model 'NoSuchModel'" in done.stderr or "NoSuchModel" in done.stderr


def train_command_parser():
    from keras_archs import cli

    return cli.build_parser()


def test_train_checks_the_new_flags(tmp_path):
    with pytest.raises(TypeError, match="shuffle must be True or False. Received: shuffle='no'"):
        loop.train("CifarResNet20", "fashion_mnist", out_dir=tmp_path, shuffle="no")
    with pytest.raises(TypeError, match="augment must be True or False. Received: augment=1"):
        loop.train("CifarResNet20", "fashion_mnist", out_dir=tmp_path, augment=1)
    assert list(tmp_path.iterdir()) == []


@needs_fashion_mnist
def test_global_batch_must_split_among_replicas(tmp_path):
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from keras_archs.train import loop
        try:
            loop.train("CifarResNet20", out_dir={str(tmp_path / "odd")!r}, batch_size=63, strategy="mirrored")
        except ValueError as error:
            print("ERROR", error)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=_environment()
    )
    assert "ERROR batch_size is the global batch and must split evenly among the 2 replicas" in completed.stdout, (
        completed.stderr[-3000:]
    )


# ----- two workers on loopback ports (slow lane) --------------------------------------------------------------------


def _mirrored_reference(out: pathlib.Path, epochs: int, train_limit: int) -> None:
    """The same run in one process on two logical CPUs (MirroredStrategy, one input pipeline per replica)."""
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from keras_archs.train import loop
        loop.train("CifarResNet20", "fashion_mnist", out_dir={str(out)!r}, epochs={epochs}, batch_size=64,
                   train_limit={train_limit}, eval_limit=100, strategy="mirrored", augment=False, shuffle=False,
                   verbose=0)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=WORKER_TIMEOUT, env=_environment()
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


@pytest.mark.slow
@needs_fashion_mnist
def test_two_workers_train_like_two_replicas_and_only_the_chief_writes(tmp_path):
    outs = [tmp_path / "w0", tmp_path / "w1"]
    args = [*RUN, "--epochs", "1", "--train-limit", "128"]  # 2 steps of 64 (32 per worker)
    logs = _finish(_start_workers(tmp_path, outs, args, "run"))
    chief, worker = outs
    for name in ("model.keras", "result.json", "log.csv", "checkpoints/epoch_001.keras", "backup"):
        assert (chief / name).exists(), name
    assert any((chief / "tensorboard").rglob("*tfevents*"))
    assert sorted(p.name for p in worker.iterdir()) == ["backup_worker_1"]  # its other files went to a temp dir
    result = json.loads((chief / "result.json").read_text())
    assert (result["replicas"], result["workers"], result["per_replica_batch_size"]) == (2, 2, 32)
    assert result["steps_per_epoch"] == 2 and result["strategy"] == "multiworker"
    assert "recipe 0.1 at batch 128 -> 0.05 at batch 64" in result["learning_rate_scaling"]
    # the reported test accuracy is the chief's model's on exactly the first 100 test images; the worker agrees
    from keras_archs.data.fashion_mnist import load_arrays

    images, labels, _ = load_arrays("test")
    import keras_archs.applications  # noqa: F401

    model = keras.saving.load_model(chief / "model.keras")
    predicted = np.argmax(np.asarray(model(images[:100].astype(np.float32), training=False)), axis=-1)
    assert result["test_accuracy"] == pytest.approx(float(np.mean(predicted == labels[:100])), abs=1e-6)
    assert f"test accuracy {result['test_accuracy']:.4f}" in logs[1] and "the chief writes" in logs[1]
    # Two workers of one replica each = one worker with two replicas (each replica its own shard and its own
    # BatchNormalization statistics), up to float rounding that training then amplifies: measured 1.2e-7 after one
    # step, 3.1e-6 after two, 3.3e-4 after four (docs/distributed.md).
    reference = tmp_path / "mirrored"
    _mirrored_reference(reference, epochs=1, train_limit=128)
    for ours, theirs in zip(_weights(chief / "model.keras"), _weights(reference / "model.keras")):
        np.testing.assert_allclose(ours, theirs, atol=3e-5)


def _backup_epoch(folder: pathlib.Path) -> int:
    try:
        return json.loads((folder / "training_metadata.json").read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


RESUMABLE = [*RUN, "--train-limit", "64", "--epochs", "4"]  # 4 epochs of one step


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> pathlib.Path:
    """The chief's model.keras of a two-worker run of RESUMABLE, never interrupted."""
    if not FASHION_MNIST.exists():
        pytest.skip(f"{FASHION_MNIST} absent (Debian package dataset-fashion-mnist; `make data`)")
    folder = tmp_path_factory.mktemp("uninterrupted")
    _finish(_start_workers(folder, [folder / "w0", folder / "w1"], RESUMABLE, "run"))
    return folder / "w0" / "model.keras"


@pytest.mark.slow
@needs_fashion_mnist
def test_resume_after_a_worker_is_killed(tmp_path, uninterrupted):
    outs = [tmp_path / "w0", tmp_path / "w1"]
    args = RESUMABLE
    workers = _start_workers(tmp_path, outs, args, "first")
    deadline = time.monotonic() + WORKER_TIMEOUT
    while _backup_epoch(outs[1] / "backup_worker_1") < 1:
        assert all(process.poll() is None for process, _ in workers), "a worker ended before the first backup"
        assert time.monotonic() < deadline, "no backup within the time limit"
        time.sleep(0.2)
    workers[1][0].send_signal(signal.SIGKILL)  # the worker dies; the job is restarted whole (as Slurm would)
    workers[0][0].send_signal(signal.SIGKILL)
    for process, log in workers:
        process.wait()
        log.close()
    restored = _backup_epoch(outs[0] / "backup")
    assert 1 <= restored < 4, restored
    refused = subprocess.run(  # without --resume the existing backup is refused, before any training
        [sys.executable, "-m", "keras_archs.cli", *args, "--out", str(outs[0])],
        capture_output=True,
        text=True,
        timeout=300,
        env=_environment(),
    )
    assert refused.returncode == 2 and "already holds a training run" in refused.stderr, refused.stderr[-2000:]
    logs = _finish(_start_workers(tmp_path, outs, [*args, "--resume"], "resumed"))
    assert "after 4 epochs" in logs[0]
    result = json.loads((outs[0] / "result.json").read_text())
    # Only the epochs after the backup ran again; result.json's history still has all 4, the earlier ones from
    # log.csv (None where the kill came between the backup and the log line of that epoch).
    assert len(result["history"]["loss"]) == 4
    assert all(value is not None for value in result["history"]["loss"][restored:])
    # the same weights as an uninterrupted two-worker run (no shuffle, no augmentation: resuming changes nothing;
    # measured bit-identical)
    for ours, theirs in zip(_weights(outs[0] / "model.keras"), _weights(uninterrupted)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.slow
@needs_fashion_mnist
def test_workers_resume_from_the_chief_when_their_backups_disagree(tmp_path, uninterrupted):
    # The same 4-epoch command as the uninterrupted run (a shorter first run would stretch the learning-rate schedule
    # to its own length), killed after the chief's second backup; worker 1 is then made to lag one epoch behind, as
    # when a kill falls between two workers' backup writes.
    outs = [tmp_path / "w0", tmp_path / "w1"]
    workers = _start_workers(tmp_path, outs, RESUMABLE, "first")
    deadline = time.monotonic() + WORKER_TIMEOUT
    while _backup_epoch(outs[0] / "backup") < 2:
        assert all(process.poll() is None for process, _ in workers), "a worker ended before the second backup"
        assert time.monotonic() < deadline, "no second backup within the time limit"
        time.sleep(0.2)
    for process, log in workers:
        process.send_signal(signal.SIGKILL)
        process.wait()
        log.close()
    chief_epoch = _backup_epoch(outs[0] / "backup")
    assert 2 <= chief_epoch < 4, chief_epoch
    metadata = outs[1] / "backup_worker_1" / "training_metadata.json"
    metadata.write_text(json.dumps({"epoch": chief_epoch - 1, "batch": 0}))
    logs = _finish(_start_workers(tmp_path, outs, [*RESUMABLE, "--resume"], "resumed"))
    for text in logs:  # both went on from the chief's epoch (worker 1 alone would run one epoch more and hang)
        assert f"every worker resumes from the chief's (epoch {chief_epoch})" in text, text
    history = json.loads((outs[0] / "result.json").read_text())["history"]["loss"]
    assert len(history) == 4 and all(value is not None for value in history[chief_epoch:])
    for ours, theirs in zip(_weights(outs[0] / "model.keras"), _weights(uninterrupted)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_stock_strategy_still_fails_under_keras_fit(tmp_path):
    """keras-team/keras#20585: when this test fails, Keras fit works under the stock MultiWorkerMirroredStrategy and
    strategies.KerasMultiWorkerMirroredStrategy can go."""
    script = textwrap.dedent(
        """
        import sys
        import tensorflow as tf
        stock = sys.argv[1] == "stock"
        from keras_archs.train import strategies
        strategy = tf.distribute.MultiWorkerMirroredStrategy() if stock else strategies.make_strategy("multiworker")
        import keras, numpy as np
        with strategy.scope():
            layers = [keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]
            model = keras.Sequential(layers)
            model.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"],
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        x = np.random.default_rng(0).normal(size=(256, 8)).astype("float32")
        y = (x[:, 0] > 0).astype("int64")
        try:
            history = model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(64), epochs=2, verbose=0)
            print("TRAINED", history.history["loss"][-1], float(np.sum(model.get_weights()[0])))
        except Exception as error:
            print("FAILED", type(error).__name__, str(error)[:300])
        """
    )
    results = {}
    for kind in ("stock", "ours"):
        ports = _free_ports(2)
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", script, kind],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=_environment(TF_CONFIG=_tf_config(ports, index)),
            )
            for index in range(2)
        ]
        outputs = []
        for process in processes:
            try:
                outputs.append(process.communicate(timeout=300)[0])
            except subprocess.TimeoutExpired:
                process.kill()
                outputs.append(process.communicate()[0])
        results[kind] = [
            next((line for line in out.splitlines() if line.startswith(("TRAINED", "FAILED"))), out[-2000:])
            for out in outputs
        ]
    assert all(line.startswith("FAILED") for line in results["stock"]), (
        f"Keras fit now works under the stock MultiWorkerMirroredStrategy: {results['stock']}. keras-team/keras#20585 "
        "looks fixed: drop KerasMultiWorkerMirroredStrategy's reduce override."
    )
    assert any("PerReplica" in line or "reduction dimension" in line for line in results["stock"]), results
    assert all(line.startswith("TRAINED") for line in results["ours"]), results
    assert results["ours"][0] == results["ours"][1]  # both workers end with the same loss and weights
