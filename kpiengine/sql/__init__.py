"""The SQL layer: a checked project and a request become sqlglot trees for each source's dialect."""
