"""spectrocodec's built-in plugins, each a plain module registered through the ``spectrocodec``
entry-point group exactly as a third party's would be (see pyproject.toml)."""
