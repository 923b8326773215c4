"""``stash-sense plugin``: package the Stash plugin as a plugin source for Stash."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import emit_json, err_console, fail

app = typer.Typer(no_args_is_help=True, help="Package the Stash plugin.")


@app.command("build")
def build(
    out: Path = typer.Option(..., "--out", help="Folder to write <id>.zip and index.yml into (created if missing).", file_okay=False),
    source: Path | None = typer.Option(
        None, "--source", help="A plugin folder to pack instead of the plugin shipped in this package.", exists=True, file_okay=False,
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the index entry and file list as JSON."),
) -> None:
    """Write the plugin zip and an index.yml plugin source into OUT.

    Without --source: the plugin shipped in this package, stamped with this version (the same
    zip as the sidecar's own plugin source, GET /plugin/index.yml). Serve OUT over HTTP(S) and
    add its index.yml URL in Stash under Settings > Plugins > Available Plugins > Add Source;
    Stash then installs and updates the plugin from it.
    """
    from stash_sense.plugin_bundle import PluginBundleError, build_plugin, packaged_plugin, write_plugin

    try:
        bundle = build_plugin(source, out) if source is not None else write_plugin(packaged_plugin(), out)
    except (PluginBundleError, OSError) as exc:
        fail(str(exc))
    if json_output:
        emit_json({**bundle.index_entry(), "zip": str(bundle.zip_path), "index": str(bundle.index_path), "files": list(bundle.files)})
        return
    err_console.print(f"{bundle.name} {bundle.version}: {len(bundle.files)} files")
    typer.echo(f"{bundle.zip_path}\n{bundle.index_path}\nsha256 {bundle.sha256}")
