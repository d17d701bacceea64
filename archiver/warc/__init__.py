"""WARC records: written, parsed, scanned and read back. Only this package touches warcio."""
