"""The Unicode TrueType font embedded wherever the platform writes text into a PDF.

DejaVu Serif (Debian's fonts-dejavu-core, installed by infra/lib.sh) has every
Vietnamese letter; the standard 14 PDF fonts have none. Found by path.
"""

import os

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONT_FILES = {"LienThongSerif": "DejaVuSerif.ttf",
              "LienThongSerif-Bold": "DejaVuSerif-Bold.ttf"}


class FontMissing(FileNotFoundError):
    """The Unicode font a PDF embeds is not on disk."""


def find_fonts(directory: str | None = None) -> dict[str, str]:
    """{font name: path} of the fonts PDFs embed; FontMissing names a missing file."""
    directory = FONT_DIR if directory is None else directory
    paths = {name: os.path.join(directory, file) for name, file in FONT_FILES.items()}
    for path in paths.values():
        if not os.path.isfile(path):
            raise FontMissing(f"font file {path} is missing: PDFs with Vietnamese text need "
                              "DejaVu Serif (apt-get install fonts-dejavu-core)")
    return paths
