"""One file per data set: its reader, registered with ``@register_dataset`` beside it.

Importing this package imports every module in it, so a new file here is all it takes
to add a data set (see docs/ARCHITECTURE.md, "Add a data set").
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
