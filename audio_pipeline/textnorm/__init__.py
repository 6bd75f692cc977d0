"""Text normalisation shared by engines and the listener: numbers read out in Chinese."""
