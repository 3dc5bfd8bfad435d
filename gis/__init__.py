"""pucha.gis."""
