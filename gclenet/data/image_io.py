"""Image decoding with one clear error type for every way a file can be bad."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageLoadError", "load_image", "upright_image", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


class ImageLoadError(ValueError):
    """A file that cannot be used as an image; ``str()`` is one line naming it."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def upright_image(img: Image.Image, mode: str = "RGB") -> Image.Image:
    """``img`` as a file of it would be read: EXIF orientation applied, 16-bit scaled to
    8, transparency over white, converted to ``mode``."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray((arr / max(arr.max(), 1.0) * 255).astype(np.uint8))
    elif img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert(mode)


def load_image(path: str | Path, mode: str = "RGB") -> Image.Image:
    """Decode ``path`` fully, upright (EXIF orientation applied), converted to ``mode``.

    Raises:
        ImageLoadError: missing, empty, not an image, truncated/corrupt, or larger than
            PIL's decompression-bomb limit.
    """
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageLoadError(path, "empty file (0 bytes); remove it or replace it with a real image")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.seek(0)  # first frame of animations
                img.load()
                return upright_image(img, mode)
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(path, "no such file") from None
    except IsADirectoryError:
        raise ImageLoadError(path, "is a directory, not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageLoadError(path, f"refused as a possible decompression bomb ({err})") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not an image file PIL can read; check the file or remove it") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(path, f"corrupt or truncated image ({err}); re-export or remove it") from None
