"""Turn interview transcripts written in Markdown into chaptered audio."""

__version__ = "0.1.0"
