"""What a training run prints: each event once, as one line; third-party noise left out.

Lightning logs through a handler of its own and, where the program has configured logging
(the ``gclenet`` command does), through the program's too: every line came twice, in two
formats. It also advertises a cloud service at every start, its internals raise
deprecation warnings of the torch it runs on, and it warns that a small data set has
fewer batches than its logging interval. None of that is the user's business;
:func:`training_console` keeps it out while a run trains and puts everything back after.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

__all__ = ["training_console", "progress_bar"]

# Loggers Lightning's rank-zero messages come from (where a filter on the logger sees them).
_LIGHTNING_SOURCES = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
_ADVERTS = ("litlogger", "LitLogger")  # "Tip: ... try installing litlogger": an advertisement
# Third-party modules whose deprecation warnings are about their own code, not the user's.
_THIRD_PARTY = r"(lightning|lightning_utilities|torch|torchmetrics|torchvision|tensorboard)(\..*)?$"


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(word in message for word in _ADVERTS)


@contextlib.contextmanager
def training_console() -> Iterator[None]:
    """While in the block: Lightning's messages once each (through the program's logging
    where it has any, else Lightning's own handler), no adverts, no deprecation warnings
    from third-party internals, no logging-interval warning."""
    lightning = logging.getLogger("lightning")
    own_handlers = list(lightning.handlers) if logging.getLogger().hasHandlers() else []
    adverts = _DropAdverts()
    sources = [logging.getLogger(name) for name in _LIGHTNING_SOURCES]
    for handler in own_handlers:  # the program's handlers print them (in the program's format)
        lightning.removeHandler(handler)
    for source in sources:
        source.addFilter(adverts)
    try:
        with warnings.catch_warnings():
            for category in (DeprecationWarning, FutureWarning):
                warnings.filterwarnings("ignore", category=category, module=_THIRD_PARTY)
            # On a small data set an epoch has fewer batches than log_every_n_steps; the epoch
            # metrics (what the CSV log and the curves use) are logged all the same.
            warnings.filterwarnings("ignore", message=r".*smaller than the logging interval")
            yield
    finally:
        for source in sources:
            source.removeFilter(adverts)
        for handler in own_handlers:
            lightning.addHandler(handler)


def _one_based(current_epoch: int, max_epochs: int | None) -> str:
    return f"Epoch {current_epoch + 1}" + (f"/{max_epochs}" if max_epochs is not None and max_epochs > 0 else "")


class _RichBar(RichProgressBar):
    # Lightning counts epochs from 0 ("Epoch 1/1" on the second of two); people count from 1.
    def _get_train_description(self, current_epoch: int) -> str:
        text = _one_based(current_epoch, self.trainer.max_epochs)
        width = len(self.validation_description)
        return f"{text:{width}}" if width > len(text) else text


class _TQDMBar(TQDMProgressBar):
    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(_one_based(trainer.current_epoch, trainer.max_epochs))


def progress_bar() -> L.Callback:
    """Lightning's progress bar (rich where installed, as Lightning picks), epochs counted from 1."""
    return _RichBar() if _RICH_AVAILABLE else _TQDMBar()
