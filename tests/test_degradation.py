"""The degradation experiment (keras_archs.analysis.degradation, `keras-archs degradation`): the budget checks, which
data each curve is, reading finished runs instead of training again, the JSON round trip and the figure. A real
(tiny) training run is in the slow lane here; the default lane trains one through examples/06_degradation.ipynb."""

from __future__ import annotations

import json
import pathlib

import keras
import pytest

from keras_archs import cli
from keras_archs.analysis import degradation, plots
from keras_archs.cli import degradation as degradation_command

FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")
needs_fashion_mnist = pytest.mark.skipif(
    not FASHION_MNIST.exists(), reason=f"{FASHION_MNIST} absent (`make data` installs it)"
)


def test_cli_literals_agree_with_the_library():
    assert degradation_command.DATASETS == degradation.DATASETS
    assert degradation_command.DEPTHS == degradation.DEPTHS


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depths": (18,)}, "depths"),
        ({"depths": ()}, "depths"),
        ({"epochs": 0}, "epochs"),
        ({"train_limit": -1}, "train_limit"),
        ({"batch_size": True}, "batch_size"),
        ({"data": "mnist"}, "data"),
    ],
)
def test_bad_budgets_fail_before_training(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        degradation.run_degradation(tmp_path, **kwargs)
    assert not (tmp_path / "plain-20").exists()


def test_auto_picks_cifar10_only_when_its_files_are_here(tmp_path):
    # tmp_path holds no CIFAR-10, so "auto" falls back to Fashion-MNIST; named datasets are kept as given.
    assert degradation.choose_dataset("auto", data_dir=tmp_path) == "fashion_mnist"
    assert degradation.choose_dataset("cifar10") == "cifar10"


def _finished_run(folder: pathlib.Path, settings: dict, accuracy: list[float], test: float) -> None:
    """What keras_archs.train.train leaves in a finished run folder: result.json and model.keras."""
    folder.mkdir(parents=True)
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(3)(inputs)).save(folder / "model.keras")  # 15 trainable weights
    result = {
        **settings,
        "history": {"accuracy": accuracy, "val_accuracy": [a - 0.05 for a in accuracy]},
        "test_accuracy": test,
        "train_seconds": 12.5,
    }
    (folder / "result.json").write_text(json.dumps(result))


def test_finished_runs_are_read_not_trained_again(tmp_path):
    settings = degradation._settings("fashion_mnist", 2, 256, 128, 64, 3)
    _finished_run(tmp_path / "plain-20", settings, [0.5, 0.7], 0.68)
    _finished_run(tmp_path / "resnet-20", settings, [0.6, 0.8], 0.79)
    lines = []
    result = degradation.run_degradation(
        tmp_path,
        data="fashion_mnist",
        depths=(20,),
        epochs=2,
        train_limit=256,
        eval_limit=128,
        batch_size=64,
        seed=3,
        progress=lines.append,
    )
    assert sum("finished run found" in line for line in lines) == 2
    plain = result.curve("plain-20")
    assert plain.train_error == pytest.approx((0.5, 0.3)) and plain.heldout_error == pytest.approx((0.55, 0.35))
    assert plain.test_error == pytest.approx(0.32) and plain.params == 15 and plain.plain
    assert result.splits == {"fit": "train_without_validation", "monitored_each_epoch": "validation", "final": "test"}
    assert degradation.load_result(tmp_path / "degradation.json") == result
    assert (tmp_path / "degradation.png").read_bytes()[:4] == b"\x89PNG"
    assert "held-out: 'validation'" in result.summary()
    # Another budget in the same folder is refused, not mixed into the curves.
    with pytest.raises(ValueError, match="another budget"):
        degradation.run_degradation(tmp_path, data="fashion_mnist", depths=(20,), epochs=3, train_limit=256)


def test_load_result_refuses_other_files(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="keras_archs.degradation/1"):
        degradation.load_result(tmp_path / "x.json")


def test_the_figure_has_both_panels_on_one_scale():
    curves = [
        degradation.NetworkCurve(f"{kind}-{d}", f"CifarResNet{d}", kind == "plain", d, 1, (0.5, e), (0.6, e), e, 1, "")
        for kind, d, e in (("plain", 20, 0.1), ("plain", 56, 0.2), ("resnet", 20, 0.09), ("resnet", 56, 0.05))
    ]
    splits = {"fit": "train", "monitored_each_epoch": "test", "final": "test"}
    result = degradation.DegradationResult("cifar10", splits, 2, None, None, 128, 0, "cifar_resnet", tuple(curves))
    figure = plots.degradation_figure(result)
    left, right = figure.axes
    assert left.get_ylim() == right.get_ylim()
    assert [t.get_text() for t in left.get_legend().get_texts()][:2] == ["plain-20 train", "plain-20 test"]


@pytest.mark.slow
@needs_fashion_mnist
def test_keras_archs_degradation_trains_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["degradation", "--out", str(out), "--depths", "20", "--epochs", "1", "--train-limit", "256"]
    argv += ["--eval-limit", "256", "--fit-verbose", "0"]
    assert cli.main(argv) == 0
    data = json.loads((out / "degradation.json").read_text())
    assert [n["name"] for n in data["networks"]] == ["plain-20", "resnet-20"]
    assert data["command"].startswith("keras-archs degradation --out")
    for network in data["networks"]:
        assert len(network["train_error"]) == len(network["heldout_error"]) == 1
        assert 0 <= network["test_error"] <= 1 and network["params"] == 269_434  # 28x28x1 input: 288 fewer
    assert (out / "degradation.png").stat().st_size > 10_000
    assert cli.main(argv) == 0  # the same command again reads the finished runs
    assert capsys.readouterr().out.count("finished run found") == 2
