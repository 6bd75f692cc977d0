"""The click layer: argument parsing, printing, progress bars and exit codes.

Everything else lives in the library; a ``PipelineError`` becomes one clear line
(one per problem) and its exit code, never a traceback.

One module per command (or small group of commands); what they share is in
common.py, options.py and progress.py, none of which imports a command module.
"""

from __future__ import annotations

import click

from .. import __version__
from . import cache, check, parse, plan, render, serve
from .heap import steady_heap


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="audio-pipeline")
def main() -> None:
    """Turn an interview transcript written in Markdown into chaptered audio."""
    steady_heap()  # before any audio is made: memory stays flat however long the render


# The modules are imported, not their commands: a command named like its module would
# hide the module (``audio_pipeline.cli.render`` must stay the module, for its helpers).
main.add_command(parse.parse)
main.add_command(parse.voices_command)
main.add_command(render.render)
main.add_command(serve.serve)
main.add_command(plan.plan)
main.add_command(cache.cache)
main.add_command(check.check)
