"""pucha (普查): census enumeration areas and enumerator maps.

The code is laid out by data flow: ``pucha.gis`` (read, reproject, validate,
estimate population, check boundaries, write) -> ``pucha.partition`` (graph,
solver, area polygons, codes, quality) -> ``pucha.outputs`` (web maps, printable
maps, registers, exports) drawing on ``pucha.basemaps``. ``pucha.scripts`` is the
thin command line. A module never imports from further up that chain.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
