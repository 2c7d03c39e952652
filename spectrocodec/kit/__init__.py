"""The plugin author's kit: helpers every codec plugin needs (pixel layout, size checks, ISOBMFF
boxes, a codec base class). Core-side: it imports the core, never an application or a plugin."""
