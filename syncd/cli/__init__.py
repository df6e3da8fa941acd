"""The `syncd` command line: `app` declares the commands and registers the groups (`routes`, `db`,
`links`, `events`, each in its own module); `common` holds what they share; the other modules hold
the commands' bodies."""
