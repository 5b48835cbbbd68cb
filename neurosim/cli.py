"""The ``neurosim`` command line. Bad input exits with code 2 and a one-line message."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .experiment.sweep import SweepError

__all__ = ["main"]


def _out_path(value: str | None, default: Path) -> Path:
    return default if value is None else Path(value)


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .experiment import load_config, plot_dataset, run, write_netcdf

    config = load_config(args.config)
    out = _out_path(args.out, Path("results") / f"{config.name}.nc")
    t0 = time.perf_counter()
    with tqdm(total=config.training.steps, desc=f"run {config.name}", file=sys.stderr) as bar:
        ds = run(
            config,
            progress=lambda done, total: (setattr(bar, "total", total), bar.update(done - bar.n)),
            checkpoint=args.checkpoint,
        )
    ds.attrs["history"] = ds.attrs["history"].replace("neurosim run", f"neurosim run {args.config}")
    write_netcdf(ds, out)
    figures = [] if args.no_plot else plot_dataset(ds, out.with_suffix(""), prefix="")
    last = ds.isel(step=-1)
    print(f"wrote {out} ({len(figures)} figures) in {time.perf_counter() - t0:.1f} s")
    print(
        f"final step {int(last.step)}: test loss {float(last.loss):.4g}, "
        f"grad cosine vs BP {float(last.grad_cosine):.4f}, "
        f"Jacobian symmetry {float(last.jacobian_symmetry):.4f}"
    )
    return 0


def _sweep(args: argparse.Namespace, *, sweep_file: str | None = None) -> int:
    from .experiment import load_sweep, make_executor, plot_dataset, run_sweep
    from .experiment.figures import sweep_dims

    path = sweep_file or args.file
    try:
        spec = load_sweep(path, out=args.out)
        executor = make_executor(args.workers, args.scheduler)
    except ValueError as err:  # ConfigError is a ValueError
        print(str(err), file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    command = "neurosim " + " ".join(sys.argv[1:]) if sweep_file is None else "neurosim demo"
    try:
        ds = run_sweep(spec, executor=executor, progress=not args.no_progress, command=command)
    except SweepError as err:
        print(str(err), file=sys.stderr)
        return 1
    figures = plot_dataset(ds, spec.out.with_suffix(""))
    print(
        f"wrote {spec.out} ({len(spec.points)} points, dims {dict(ds.sizes)}) and "
        f"{len(figures)} figures in {time.perf_counter() - t0:.1f} s"
    )
    dims = sweep_dims(ds)
    if "grad_cosine" in ds and len(dims) >= 1:
        final = ds.grad_cosine.isel(step=-1)
        if "seed" in final.dims:
            final = final.mean("seed")
        print("final gradient cosine vs BP (mean over seeds):")
        table = final.to_pandas() if len(dims) <= 2 else final.to_dataframe()
        print(table.round(4).to_string())
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .experiment.presets import PRESET_DIR

    name = "demo_quick.toml" if args.quick else "demo.toml"
    args.no_progress = False
    args.scheduler = None
    if args.out is not None:
        args.out = str(Path(args.out) / name.replace(".toml", ".nc"))
    return _sweep(args, sweep_file=str(PRESET_DIR / "sweeps" / name))


def _plot(args: argparse.Namespace) -> int:
    import xarray as xr

    from .experiment import plot_dataset

    path = Path(args.result)
    if not path.is_file():
        print(f"{path}: no such result file", file=sys.stderr)
        return 2
    try:
        ds = xr.open_dataset(path)
    except (OSError, ValueError) as err:
        print(f"{path}: not a NetCDF result ({type(err).__name__})", file=sys.stderr)
        return 2
    with ds:
        ds = ds.load()
    out = _out_path(args.out, path.with_suffix(""))
    figures = plot_dataset(ds, out)
    print(f"wrote {len(figures)} figures to {out}/")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .experiment.config import load_config

    config = load_config(args.config)
    print(f"OK: {config.name}")
    if config.description:
        print(f"  {config.description}")
    diff = {
        k: v for k, v in config.diff_from_defaults().items() if k not in ("name", "description")
    }
    if not diff:
        print("no differences from the defaults (the ideal substrate)")
        return 0
    from .experiment.config import toml_value

    default = type(config)().to_flat_dict()
    print("differences from the defaults (the ideal substrate):")
    width = max(len(k) for k in diff)
    for key, value in diff.items():
        was = f"default {toml_value(default[key])}" if key in default else "not in the defaults"
        print(f"  {key:<{width}} = {toml_value(value)}  ({was})")
    return 0


def _reference(args: argparse.Namespace) -> int:
    from .experiment.config import config_reference

    text = config_reference()
    if args.out is None:
        sys.stdout.write(text)
    else:
        from .experiment.storage import write_text

        write_text(Path(args.out), text)
        print(f"wrote {args.out}")
    return 0


def _configs(args: argparse.Namespace) -> int:
    from .experiment.presets import PRESET_DIR, list_presets

    presets = list_presets()
    if not presets:
        print(f"no presets in {PRESET_DIR}")
        return 0
    width = max(len("name"), *(len(name) for name, _ in presets))
    print(f"{'name':<{width}}  description")
    print(f"{'-' * width}  {'-' * 11}")
    for name, description in presets:
        print(f"{name:<{width}}  {description}")
    print(f"\n{len(presets)} presets in {PRESET_DIR}; check one with `neurosim validate NAME`")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurosim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one config; metrics over steps → NetCDF + PNG")
    run.add_argument("config", metavar="CONFIG", help="path to a .toml file or a preset name")
    run.add_argument("--out", help="result file (default: results/<name>.nc)")
    run.add_argument("--no-plot", action="store_true", help="skip the figures")
    run.add_argument(
        "--checkpoint", help="save the full state here after each record; resume from it if present"
    )
    run.set_defaults(func=_run)
    sweep = sub.add_parser("sweep", help="run every point of a sweep file → one NetCDF dataset")
    sweep.add_argument("file", metavar="FILE", help="sweep file (TOML: base, seeds, [axes])")
    sweep.add_argument("--out", help="result file (default: the sweep file's `out`)")
    sweep.add_argument("--workers", type=int, help="local worker processes (default: serial)")
    sweep.add_argument(
        "--scheduler", help="dask.distributed scheduler address, or 'local' for a LocalCluster"
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar")
    sweep.set_defaults(func=_sweep)
    demo = sub.add_parser(
        "demo", help="the embedded default: EP vs BP across feedback angles × estimators"
    )
    demo.add_argument("--out", help="output folder (default: results/)")
    demo.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    demo.add_argument("--quick", action="store_true", help="4 points, seconds (used by tests)")
    demo.set_defaults(func=_demo)
    plot = sub.add_parser("plot", help="figures of each metric against the swept axes (PNG)")
    plot.add_argument("result", metavar="RESULT.nc")
    plot.add_argument("--out", help="folder for the figures (default: next to the result)")
    plot.set_defaults(func=_plot)
    validate = sub.add_parser(
        "validate", help="check a config file or preset; print its differences from the defaults"
    )
    validate.add_argument("config", metavar="CONFIG", help="path to a .toml file or a preset name")
    validate.set_defaults(func=_validate)
    configs = sub.add_parser("configs", help="list the hardware presets in hw_configs/")
    configs.set_defaults(func=_configs)
    reference = sub.add_parser(
        "reference", help="the config reference (every key, type, default, bounds, units)"
    )
    reference.add_argument("--out", help="write it to this file (default: print it)")
    reference.set_defaults(func=_reference)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; a bad config prints its one-line message to stderr and returns 2."""
    from .experiment.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
