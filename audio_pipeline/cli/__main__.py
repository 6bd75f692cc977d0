"""``python -m audio_pipeline.cli``, as the console script runs it."""

from . import main

if __name__ == "__main__":
    main()
