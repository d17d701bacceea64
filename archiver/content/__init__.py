"""Content: a page's bytes and their text — bounded decoding, fingerprints, the CJK character class."""
