"""Audio files, knowing nothing of transcripts: ffmpeg (run by ``ffmpeg``; decode,
encode, measure in ``codec``), in-process loudness and levelling, and the MP3 and AAC
joins.

A layer below the rest of the pipeline: modules here import only the standard
library, third-party packages, each other, :mod:`audio_pipeline.errors` (the base
error) and :mod:`audio_pipeline.fsutil` (atomic writes); never the stages above.
"""
