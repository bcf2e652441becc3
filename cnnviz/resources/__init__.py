"""Files the app ships that are not code: the Qt style sheet, the icon (SVG, and PNGs rendered
from it with Qt's QSvgRenderer) and the Linux .desktop entry.

Read them through ``RESOURCES / name`` (importlib.resources), never a path computed from
``__file__``: that works the same from a wheel, pipx and the editable install.
"""

from importlib.resources import files

__all__ = ["ICON_PNGS", "RESOURCES"]

RESOURCES = files(__name__)
#: The icon's PNG renderings, largest first (pixel sizes in the names).
ICON_PNGS = ("cnnviz-256.png", "cnnviz-48.png")
