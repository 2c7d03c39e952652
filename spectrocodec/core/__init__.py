"""The framework: interfaces, hook specifications, the plugin registry, the file format, the
pixel mapping, the pipeline and the Python API. Imports nothing from ``apps`` or any plugin."""
