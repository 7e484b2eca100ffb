"""The ``observer`` command: thin wrappers that parse arguments and call the modules."""
