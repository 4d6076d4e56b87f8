"""`gen`: render, check, validate and explain stacks. Thin: every decision lives in the modules it calls."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from generator.errors import UserError
from generator.explain import explain
from generator.paths import COMPOSE_FILE, GENERATED_DIR
from generator.plan import build_plan
from generator.profile import load_profile
from generator.render import Rendered, render_profile, resolve_profile, shipped_profiles, write


class _GenGroup(click.Group):
    """Turns every UserError into a one-line click error: exit 1, no traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except UserError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_GenGroup, help="Render AceStream engine stacks from declarative profiles, and check them.")
def cli() -> None:
    pass


@cli.command(help="Render a profile (a name in profiles/ or a path) into generated/<profile>/ or --out.")
@click.option("--profile", "profile", metavar="NAME", help="profile name or path to a profile file")
@click.option("--all", "render_all", is_flag=True, help="render every profile in profiles/")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="output directory")
def render(profile: str | None, render_all: bool, out: Path | None) -> None:
    if bool(profile) == render_all:
        raise UserError("give either --profile NAME or --all")
    if render_all and out is not None:
        raise UserError("--out works with --profile only; --all writes into generated/<profile>/")
    names = shipped_profiles() if render_all else [str(profile)]
    # Render everything first, write after: one bad profile leaves no stack half-written.
    stacks = [render_profile(name, out) for name in names]
    for stack in stacks:
        for path in write(stack):
            click.echo(f"wrote {path}")


def _drift(stack: Rendered, directory: Path) -> list[str]:
    diffs = []
    for name, expected in stack.files.items():
        path = directory / name
        actual = path.read_text(encoding="utf-8") if path.is_file() else ""
        if actual != expected:
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        actual.splitlines(keepends=True),
                        expected.splitlines(keepends=True),
                        f"{path} (committed)",
                        f"{path} (rendered now)",
                    )
                )
            )
    return diffs


@cli.command(help="Fail if generated/ differs from a fresh render, or holds an invalid compose file.")
@click.option(
    "--generated-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=GENERATED_DIR,
    show_default="generated/",
    help="the directory of rendered stacks to compare",
)
def check(generated_dir: Path) -> None:
    from generator.validate import validate_file

    failures = []
    names = shipped_profiles()
    for name in names:
        # Rendered as for generated/ (the build context is relative to it), compared with generated_dir.
        failures += _drift(render_profile(name), generated_dir / name)
    stale = sorted(p.name for p in generated_dir.iterdir() if p.is_dir() and p.name not in names)
    failures += [f"{generated_dir / name}: no profile renders it any more; delete it" for name in stale]
    for compose in sorted(generated_dir.glob(f"*/{COMPOSE_FILE}")):
        failures += [f"{compose}: {line}" for line in validate_file(compose)]
    if failures:
        click.echo("\n".join(failures), err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"generated/ matches {len(names)} profiles and every compose file is valid")


@cli.command(
    help="Check a compose file: compose-spec schema, `docker compose config`, our consistency rules."
)
@click.argument("path", type=click.Path(path_type=Path))
def validate(path: Path) -> None:
    from generator.validate import validate_file

    if not path.is_file():
        raise UserError(f"{path}: file not found")
    problems = validate_file(path)
    if problems:
        click.echo("\n".join(problems), err=True)
        raise click.exceptions.Exit(1)
    click.echo(f"{path}: valid")


@cli.command(
    name="explain", help="Show a profile's plan: ports per VPN, engines that fit, supervisor settings."
)
@click.option("--profile", "profile", metavar="NAME", required=True, help="profile name or path")
def explain_command(profile: str) -> None:
    name, path = resolve_profile(profile)
    click.echo(explain(build_plan(load_profile(path), name, str(path)), str(path)), nl=False)


def main() -> None:
    cli(prog_name="gen")
