"""`neurosim validate` / `neurosim configs`, and bad configs as a new user would write them.

Every bad input must exit 2 with exactly one line on stderr that names the
file, the dotted key and what is allowed, and must write nothing.
"""

from __future__ import annotations

import pytest

from neurosim.cli import main
from neurosim.experiment.presets import list_presets


def case(id_, content, key, *expected, arg=None):
    """One bad input: what the file holds, the key its error names, what the line must say."""
    return pytest.param(content, arg, key, expected, id=id_)


# case(id, file content (None: no file), dotted key (None: whole file), *must_contain, arg=...)
# arg: what to pass to `neurosim validate` instead of the written file
BAD = [
    # unknown keys: top level, every section, a typo'd section, a key in the wrong place
    case("unknown-top-key", "sead = 1\n", "sead", 'did you mean "seed"', "valid top-level keys"),
    case(
        "unknown-network",
        "[network]\nsize = [2, 2]\n",
        "network.size",
        "valid keys in [network]",
        "sizes",
    ),
    case(
        "unknown-feedback",
        "[feedback]\nangle = 30\n",
        "feedback.angle",
        "valid keys in [feedback]: alpha, mode",
    ),
    case(
        "unknown-dynamics",
        "[dynamics]\nsteps = 10\n",
        "dynamics.steps",
        "valid keys in [dynamics]",
        "free_steps",
    ),
    case(
        "unknown-nudge",
        '[nudge]\nestimater = "holomorphic"\n',
        "nudge.estimater",
        'did you mean "estimator"',
        "valid keys in [nudge]",
    ),
    case(
        "unknown-devices",
        "[devices]\nwmin = -1.0\n",
        "devices.wmin",
        "valid keys in [devices]",
        "w_min",
    ),
    case(
        "unknown-neurons",
        "[neurons]\nnoise = 0.1\n",
        "neurons.noise",
        "valid keys in [neurons]",
        "noise_std",
    ),
    case(
        "unknown-workload",
        '[workload]\ndataset = "mnist"\n',
        "workload.dataset",
        "valid keys in [workload]",
        "n_train",
    ),
    case(
        "unknown-training",
        "[training]\nepoch_count = 3\n",
        "training.epoch_count",
        "valid keys in [training]",
        "steps",
    ),
    case(
        "typo-section",
        "[netwrok]\nsizes = [2, 2]\n",
        "netwrok",
        "unknown section",
        "did you mean [network]",
        "[training]",
    ),
    case(
        "key-in-wrong-section",
        "[dynamics]\nbeta = 0.2\n",
        "dynamics.beta",
        "belongs in [nudge]",
        "valid keys in [dynamics]",
    ),
    case(
        "top-key-after-section",
        "[network]\nseed = 3\n",
        "network.seed",
        "top-level key",
        "valid keys in [network]",
    ),
    # wrong types
    case(
        "str-for-int",
        '[training]\nsteps = "100"\n',
        "training.steps",
        '"100" (string)',
        "an integer >= 1",
    ),
    case("float-for-int", "seed = 1.5\n", "seed", "1.5 (float)", "an integer >= 0"),
    case("list-for-float", "[nudge]\nbeta = [0.1]\n", "nudge.beta", "(array)", "a number > 0"),
    case(
        "bool-for-float",
        "[feedback]\nalpha = true\n",
        "feedback.alpha",
        "(boolean)",
        "a number in [0, 180]",
    ),
    case("str-for-bool", '[network]\nbias = "yes"\n', "network.bias", "true or false"),
    case("scalar-for-section", "network = 3\n", "network", "a table [network]", "sizes"),
    case("str-in-list", '[network]\nsizes = [20, "32", 10]\n', "network.sizes[1]", "each >= 1"),
    # out of range
    case(
        "negative-steps",
        "[training]\nsteps = -5\n",
        "training.steps",
        "-5 is out of range",
        "an integer >= 1",
    ),
    case(
        "alpha-200",
        "[feedback]\nalpha = 200\n",
        "feedback.alpha",
        "200 is out of range",
        "[0, 180]",
    ),
    case(
        "probability-1.5", "[devices]\nstuck_zero_prob = 1.5\n", "devices.stuck_zero_prob", "[0, 1]"
    ),
    case("n-1", "[nudge]\nn = 1\n", "nudge.n", "an integer >= 2"),
    case("zero-layer", "[network]\nsizes = [20, 0, 10]\n", "network.sizes[1]", "each >= 1"),
    case("one-layer", "[network]\nsizes = [20]\n", "network.sizes", ">= 2 integers"),
    case("momentum-1", "[training]\nmomentum = 1.0\n", "training.momentum", "[0, 1)"),
    case("lr-nan", "[training]\nlr = nan\n", "training.lr", "not a finite number", "a number > 0"),
    case(
        "levels-1",
        "[devices]\nw_min = -1.0\nw_max = 1.0\nlevels = 1\n",
        "devices.levels",
        "0 (analog) or an integer >= 2",
    ),
    case("up-down-2", "[devices]\nup_down = 2.0\n", "devices.up_down", "(-1, 1)"),
    case(
        "dac-range-3", "[neurons]\ndac_range = [0.0, 0.5, 1.0]\n", "neurons.dac_range", "[lo, hi]"
    ),
    # cross-field violations
    case(
        "dt-gt-tau",
        '[dynamics]\nintegrator = "leaky_euler"\ndt = 2.0\ntau = 1.0\n',
        "dynamics.dt",
        "dt <= tau",
    ),
    case(
        "wmin-ge-wmax", "[devices]\nw_min = 1.0\nw_max = -1.0\n", "devices.w_min", "w_min < w_max"
    ),
    case(
        "levels-infinite-range",
        "[devices]\nlevels = 16\n",
        "devices.levels",
        "finite",
        "levels = 0",
    ),
    case(
        "soft-bounds-infinite",
        '[devices]\nupdate = "soft_bounds"\n',
        "devices.update",
        "w_min < 0 < devices.w_max",
    ),
    case(
        "soft-bounds-positive",
        '[devices]\nupdate = "soft_bounds"\nw_min = 0.0\nw_max = 1.0\n',
        "devices.update",
        "w_min < 0 <",
    ),
    case(
        "stuck-sum",
        "[devices]\nw_min = -1.0\nw_max = 1.0\nstuck_zero_prob = 0.6\nstuck_bound_prob = 0.6\n",
        "devices.stuck_bound_prob",
        "> 1",
        "[0, 1]",
    ),
    case(
        "stuck-bound-infinite",
        "[devices]\nstuck_bound_prob = 0.1\n",
        "devices.stuck_bound_prob",
        "finite",
    ),
    case(
        "adc-range-reversed", "[neurons]\nadc_range = [1.0, 0.0]\n", "neurons.adc_range", "lo < hi"
    ),
    # invalid choices
    case(
        "estimator-twosided",
        '[nudge]\nestimator = "twosided"\n',
        "nudge.estimator",
        '"twosided"',
        '"centered"',
        '"holomorphic"',
        '"one_sided"',
    ),
    case(
        "activation-relu",
        '[network]\nactivation = "relu"\n',
        "network.activation",
        '"relu"',
        '"shifted_sigmoid"',
        '"tanh"',
    ),
    case(
        "dtype-float16", '[network]\ndtype = "float16"\n', "network.dtype", '"float32"', '"float64"'
    ),
    case(
        "loss-typo",
        '[workload]\nloss = "crossentropy"\n',
        "workload.loss",
        '"mse"',
        '"cross_entropy"',
    ),
    case(
        "integrator-euler",
        '[dynamics]\nintegrator = "euler"\n',
        "dynamics.integrator",
        '"fixed_point"',
        '"leaky_euler"',
    ),
    # files: missing, malformed, not UTF-8, unknown preset, bad base
    case("malformed-toml", "[network\nsizes = [1, 2]\n", None, "invalid TOML at line 1"),
    case("duplicate-key", "seed = 1\nseed = 2\n", None, "invalid TOML at line 2"),
    case("not-utf8", b"seed = 1 # \xff\xfe\n", None, "not UTF-8"),
    case("missing-file", None, None, "file not found"),
    case(
        "unknown-preset",
        None,
        None,
        'unknown preset "rran"',
        'did you mean "rram"',
        "ideal",
        "pcm",
        arg="rran",
    ),
    case("base-unknown-preset", 'base = "rran"\n', "base", "available presets", "rram"),
    case("base-wrong-type", "base = 3\n", "base", "preset name", "rram"),
    case("base-missing-file", 'base = "nothere.toml"\n', "base", "base file not found"),
    case("base-loop", 'base = "bad.toml"\n', "base", "loops"),
]


def _snapshot(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


@pytest.mark.parametrize(("content", "arg", "key", "expected"), BAD)
def test_bad_config_one_line_exit_2(tmp_path, monkeypatch, capsys, content, arg, key, expected):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    target = arg if arg is not None else str(path)
    before = _snapshot(tmp_path)

    assert main(["validate", target]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    line = err.rstrip("\n")
    assert "Traceback" not in line and "pydantic" not in line.lower()
    if arg is None:  # names the file, then the key
        prefix = f"{path}: {key}: " if key else f"{path}: "
        assert line.startswith(prefix), line
    else:
        assert target in line
    for text in expected:
        assert text in line, f"{text!r} not in {line!r}"
    assert _snapshot(tmp_path) == before, "validate wrote files"


def test_bad_inputs_are_many():
    assert len(BAD) >= 30


def test_error_in_base_file_names_the_base_file(tmp_path, capsys):
    (tmp_path / "parent.toml").write_text("[nudge]\nn = 1\n")
    (tmp_path / "child.toml").write_text('base = "parent.toml"\n[feedback]\nalpha = 10\n')
    assert main(["validate", str(tmp_path / "child.toml")]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"{tmp_path / 'parent.toml'}: nudge.n: "), line


def test_empty_file_is_the_defaults(tmp_path, capsys):
    path = tmp_path / "empty.toml"
    path.write_text("")
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "OK: custom"
    assert "no differences from the defaults" in out
    assert err == ""


def test_validate_preset_prints_diff(capsys):
    assert main(["validate", "rram"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "OK: rram"
    assert any(
        line.split() == ["devices.update", "=", '"soft_bounds"', "(default", '"ideal")']
        for line in lines
    )
    assert any(
        line.strip().startswith("devices.w_min") and "(default -inf)" in line for line in lines
    )
    assert not any(line.strip().startswith("network.") for line in lines), "printed unchanged keys"


def test_validate_file_with_base(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text('base = "rram"\nname = "mine"\n[feedback]\nalpha = 30\n')
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: mine\n")
    assert "feedback.alpha" in out and "devices.d2d_std" in out and "drift.relax_tau" in out


def test_configs_lists_presets(capsys):
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    for name, description in list_presets():
        assert any(line.split(maxsplit=1) == [name, description] for line in out.splitlines())


def test_usage_errors_exit_2(capsys):
    for argv in (["validate"], ["configs", "extra"], ["nosuchcommand"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    capsys.readouterr()
