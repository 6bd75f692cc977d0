"""Checking rendered clips: fast checks on their samples (``quality``) and listening
back with an offline recognizer (``listen``)."""
