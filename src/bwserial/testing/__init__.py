"""A fake Bandwidth for tests: Voice API server and media-stream simulator."""
