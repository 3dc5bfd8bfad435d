"""pucha.partition."""
