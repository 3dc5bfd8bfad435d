"""``pucha init``: write a project TOML from the files a planning office hands over."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["init"]


@click.command("init")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("project.toml"), show_default=True,
              help="The project TOML to write (refused if it exists, unless --force).")
@click.option("--force", is_flag=True, help="Replace an existing project TOML.")
def init(files: tuple[Path, ...], output: Path, force: bool) -> None:
    """Inspect FILE... (or every file of a folder) and write a commented project TOML.

    For each layer: geometry, feature count, CRS, text encoding, fields with sample
    values (residents' data masked), what it looks like (buildings, 居/村, 街镇, roads,
    water ...), whether it may be GCJ-02; a CSV with 人口/population is taken as the
    population totals. The TOML holds the field mapping pucha import will use; check
    every guess, then import it.

    \b
    Example:
      pucha init 规土所交付/ -o yingpu.toml
      pucha import yingpu.toml
    """
    from pucha.errors import ConfigError
    from pucha.gis.survey import project_toml, survey
    from pucha.gis.write import write_text

    paths: list[Path] = []
    for f in files:
        if f.is_dir() and f.suffix.lower() != ".gdb":
            paths += sorted(p for p in f.iterdir() if p.is_file())
        else:
            paths.append(f)
    if output.exists() and not force:
        raise ConfigError(f"{output} exists; choose another -o or add --force to replace it")
    if any(output.resolve() == p.resolve() for p in paths):
        raise ConfigError(f"-o {output} is one of the input files; choose another name")
    layers, tables = survey(paths)
    text = project_toml(layers, tables, base=output.resolve().parent)
    write_text(output, text)
    kinds = ", ".join(f"{ls.kind or '?'} <- {ls.path.name}"
                      + (f":{ls.layer}" if ls.n_layers > 1 else "") for ls in layers)
    click.echo(f"wrote {output}: {kinds}"
               + (f"; totals <- {tables[0].name}" if tables else "")
               + f"\ncheck the guesses in it, then: pucha import {output}")
