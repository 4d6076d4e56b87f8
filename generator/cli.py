"""`gen`: render, check, validate and explain stacks, and start and stop them. Thin: every decision lives in
the modules it calls. Every command works on a stack directory: the current one, or `gen -C DIR`.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from generator.errors import UserError
from generator.explain import explain
from generator.paths import COMPOSE_FILE
from generator.plan import build_plan
from generator.profile import load_profile
from generator.render import Rendered, render_profile, write
from generator.stack_dir import StackDir
from generator.yaml_io import printable
from supervisor.stack_settings import Mode


class _GenGroup(click.Group):
    """Turns every UserError into a one-line click error: exit 1, no traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except UserError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:  # a path the system refuses (too long, a loop, no permission): say which
            where = printable(str(error.filename)) if error.filename else "a path"
            raise click.ClickException(f"{where}: {error.strerror or error}; give another path") from None
        except ValueError as error:
            if "null byte" not in str(error):
                raise
            raise click.ClickException("a path holds a NUL byte; give another path") from None


def _stack(ctx: click.Context) -> StackDir:
    stack = ctx.find_object(StackDir)
    assert stack is not None  # set by cli() before any command runs
    return stack


@click.group(cls=_GenGroup, help="Render AceStream engine stacks from declarative profiles, and check them.")
@click.option(
    "-C",
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default="the current directory",
    help="the stack directory (holding profiles/ and generated/); relative paths resolve against it",
)
@click.pass_context
def cli(ctx: click.Context, directory: Path) -> None:
    if not directory.is_dir():
        raise UserError(f"{printable(str(directory))}: no such directory; give an existing stack directory")
    ctx.obj = StackDir(directory)


@cli.command(help="Render a profile (a name in profiles/ or a path) into generated/<profile>/ or --out.")
@click.option("--profile", "profile", metavar="NAME", help="profile name or path to a profile file")
@click.option("--all", "render_all", is_flag=True, help="render every profile in profiles/")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="output directory")
@click.pass_context
def render(ctx: click.Context, profile: str | None, render_all: bool, out: Path | None) -> None:
    stack = _stack(ctx)
    if bool(profile) == render_all:
        raise UserError("give either --profile NAME or --all")
    if render_all and out is not None:
        raise UserError("--out works with --profile only; --all writes into generated/<profile>/")
    names = stack.profile_names() if render_all else [str(profile)]
    target = None if out is None else stack.path(out)
    # Render everything first, write after: one bad profile leaves no stack half-written.
    stacks = [render_profile(stack, name, target) for name in names]
    for rendered in stacks:
        for path in write(rendered):
            click.echo(f"wrote {stack.shown(path)}")


def _bounded_read(path: Path, limit: int) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def _drift(stack: StackDir, rendered: Rendered, directory: Path) -> list[str]:
    diffs = []
    for name, expected in rendered.files.items():
        path = directory / name
        # Read no more than the rendered file could be: a planted giant file is drift, not a memory bomb.
        actual = _bounded_read(path, len(expected.encode()) + 1)
        if actual != expected:
            shown = stack.shown(path)
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        actual.splitlines(keepends=True),
                        expected.splitlines(keepends=True),
                        f"{shown} (on disk)",
                        f"{shown} (rendered now)",
                    )
                )
            )
    return diffs


@cli.command(
    help="Fail if generated/ differs from a fresh render of profiles/, or holds an invalid compose file."
)
@click.option(
    "--generated-dir",
    type=click.Path(file_okay=False, path_type=Path),
    show_default="generated/",
    help="the directory of rendered stacks to compare",
)
@click.pass_context
def check(ctx: click.Context, generated_dir: Path | None) -> None:
    from generator.validate import validate_file

    stack = _stack(ctx)
    generated = stack.generated if generated_dir is None else stack.path(generated_dir)
    names = stack.profile_names()
    failures = []
    for name in names:
        # Rendered as for generated/ (the build context is relative to it), compared with generated_dir.
        failures += _drift(stack, render_profile(stack, name), generated / name)
    present = sorted(p.name for p in generated.iterdir() if p.is_dir()) if generated.is_dir() else []
    stale = [name for name in present if name not in names]
    failures += [
        f"{stack.shown(generated / name)}: no profile in profiles/ renders it any more; delete it"
        for name in stale
    ]
    for name in names:
        compose = generated / name / COMPOSE_FILE
        if compose.is_file():
            failures += [f"{stack.shown(compose)}: {line}" for line in validate_file(compose)]
    if failures:
        click.echo("\n".join(failures), err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"{stack.shown(generated)}/ matches {len(names)} profiles and every compose file is valid")


@cli.command(help="Check a compose file as Compose resolves it: `docker compose config`, then our rules.")
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_context
def validate(ctx: click.Context, path: Path) -> None:
    from generator.validate import validate_file

    stack = _stack(ctx)
    target = stack.path(path)
    if not target.is_file():
        raise UserError(f"{printable(str(path))}: file not found")
    problems = validate_file(target)
    if problems:
        click.echo("\n".join(problems), err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"{printable(str(path))}: valid")


@cli.command(
    name="explain", help="Show a profile's plan: ports per VPN, engines that fit, supervisor settings."
)
@click.option("--profile", "profile", metavar="NAME", required=True, help="profile name or path")
@click.pass_context
def explain_command(ctx: click.Context, profile: str) -> None:
    stack = _stack(ctx)
    name, path = stack.resolve_profile(profile)
    shown = stack.shown(path)
    click.echo(explain(build_plan(load_profile(path, shown), name, shown), shown), nl=False)


@cli.command(help="Make DIR a stack directory: a profile extending the shipped one of --mode, rendered.")
@click.argument("target", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--mode", type=click.Choice([m.value for m in Mode]), default=Mode.single.value, show_default=True
)
@click.option("--name", "profile", metavar="NAME", help="the profile's name (default: the mode)")
@click.pass_context
def init(ctx: click.Context, target: Path, mode: str, profile: str | None) -> None:
    from generator.scaffold import scaffold

    stack = _stack(ctx)
    for path in scaffold(stack.path(target), Mode(mode), profile or mode):
        click.echo(f"wrote {printable(str(path))}")


@cli.command(help="Render a profile, make its .env (fresh keys) when missing, then start the stack and wait.")
@click.argument("profile", metavar="PROFILE")
@click.option("--wait-timeout", type=click.IntRange(1), default=180, show_default=True, help="seconds")
@click.pass_context
def up(ctx: click.Context, profile: str, wait_timeout: int) -> None:
    from generator.stack_env import ensure_env, format_missing
    from generator.stack_run import Stack
    from generator.stack_run import up as start

    stack = _stack(ctx)
    rendered = render_profile(stack, profile)
    write(rendered)
    report = ensure_env(rendered.out_dir)
    if report.created:
        click.echo(f"wrote {stack.shown(report.env_path)} with fresh random API keys (owner-only)")
    if report.missing_files:
        raise UserError("\n".join(format_missing(report)))
    start(Stack.load(rendered.out_dir), click.echo, wait_timeout)


@cli.command(help="Stop a stack: the supervisor, then the engines it made, then the rest (data kept).")
@click.argument("profile", metavar="PROFILE")
@click.option("--volumes", is_flag=True, help="also remove the supervisor's database volume")
@click.pass_context
def down(ctx: click.Context, profile: str, volumes: bool) -> None:
    from generator.stack_run import Stack
    from generator.stack_run import down as stop

    stack = _stack(ctx)
    name, _path = stack.resolve_profile(profile)
    stop(Stack.load(stack.generated / name), click.echo, volumes)


def main() -> None:
    cli(prog_name="gen")
