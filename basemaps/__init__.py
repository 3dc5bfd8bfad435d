"""pucha.basemaps."""
