"""The `syncd` command line: `app` declares the commands; the other modules hold their bodies."""
