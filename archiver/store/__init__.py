"""The archive folder: WARC files, crash recovery, the SQLite index, fixity and locks."""
