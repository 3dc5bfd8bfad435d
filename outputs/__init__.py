"""pucha.outputs."""
