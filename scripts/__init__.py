"""pucha.scripts."""
