"""The only package that does network I/O: it turns targets into typed facts."""
