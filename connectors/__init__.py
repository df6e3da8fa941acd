"""The built-in targets, one package each; they see only `syncd.sdk` and `syncd.http`."""
