"""Writers for the files a listener gets: tagged audio, subtitles."""
