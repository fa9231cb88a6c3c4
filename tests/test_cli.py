import shutil
import subprocess
import sys

import pytest

from maedfer.cli import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _rows(out):
    return dict(line.split(None, 1) for line in out.strip().splitlines())


def test_info_lgi_former_base(capsys):
    code, out, _ = _run(capsys, "info", "lgi_former_base")
    rows = _rows(out)
    assert code == 0
    assert rows["parameters"] == "84,878,343 (84.88 M)"
    assert rows["GMACs/clip"] == "47.54 (49.65 as the original runs it)"
    assert rows["regions"] == "8 of 2x5x10 tokens"
    assert rows["input"] == "3x16x160x160 clip -> 8x10x10 = 800 tokens"


def test_info_vit_base_and_overrides(capsys):
    rows = _rows(_run(capsys, "info", "vit_base")[1])
    assert rows["parameters"] == "86,232,583 (86.23 M)" and rows["GMACs/clip"] == "80.69"
    rows = _rows(_run(capsys, "info", "lgi_former_base", "--set", "num_classes=11")[1])
    assert rows["parameters"] == "84,880,395 (84.88 M)"


def test_info_mae_dfer_base(capsys):
    rows = _rows(_run(capsys, "info", "mae_dfer_base")[1])
    assert rows["parameters"] == "92,760,192 (92.76 M)"
    assert rows["masking"] == "PartWindowMasking ratio 0.9: 720 masked, 80 visible"
    assert rows["GMACs/clip"] == "14.03"


def test_models_lists_the_registry(capsys):
    code, out, _ = _run(capsys, "models", "mae*")
    assert code == 0
    assert [line.split()[0] for line in out.strip().splitlines()] == [
        "mae_dfer_base",
        "mae_dfer_tiny",
        "mae_dfer_vit_tiny",
    ]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["info", "resnet"], "maedfer: error: unknown model 'resnet'; known models: hicmae_base, "),
        (
            ["info", "lgi_former_tiny", "--set", "region_size=(2,3,10)"],
            "maedfer: error: model lgi_former_tiny: token grid 8x10x10 (t, h, w) does not divide into "
            "regions of 2x3x10",
        ),
        (["info", "lgi_former_tiny", "--set", "depht=3"], "unknown setting 'depht' (did you mean 'depth'?)"),
        (["info", "lgi_former_tiny", "--set", "depth"], "maedfer: error: --set expects KEY=VALUE, got 'depth'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "command", [[shutil.which("maedfer") or "maedfer-not-on-PATH"], [sys.executable, "-m", "maedfer"]]
)
def test_console_script_and_module_entry_points(command):
    proc = subprocess.run([*command, "info", "lgi_former_tiny"], capture_output=True, text=True, check=True)
    assert "1,374,471" in proc.stdout


def test_a_reader_that_stops_early_is_not_an_error():
    """maedfer models --released | head -1: the pipe's reader is gone before maedfer writes."""
    import subprocess
    import sys

    run = subprocess.Popen(
        [sys.executable, "-m", "maedfer", "models", "--released"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    run.stdout.close()  # the reader leaves at once: every write fails with EPIPE
    assert run.wait(timeout=120) == 0
    assert run.stderr.read() == b""
