"""Archives behind one protocol (resolve, retrieve): Perma.cc, the Wayback Machine, downloaded files."""
