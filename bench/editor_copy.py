"""Files as Lightroom Classic and Capture One hand them to an external editor, for the tests and the
benchmark of ``backdrop edit``. Written with tifffile and Pillow only, independently of backdrop's code.

``save_tiff``: a Lightroom-like ``NAME-Edit.tif``: an ICC profile, the XMP packet (tag 700, naming
Lightroom as CreatorTool), 300 dpi, Software, DateTime, Artist, Copyright, ImageDescription, Make,
Model and an Exif IFD (exposure, ISO, version, date, lens), in the compression, predictor and byte
order asked. tifffile writes no Exif IFD: it is appended and a placeholder tag turned into its pointer.

``tiff_tags``: every tag of a TIFF's one image as (type, count, value), the strip layout left out:
what must come back identical.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import tifffile
from PIL import ImageCms

__all__ = ["ICC", "LAYOUT_TAGS", "XMP", "save_tiff", "tiff_tags"]

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # a real profile's bytes
XMP = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
       b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
       b'xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" '
       b'xmp:CreatorTool="Adobe Photoshop Lightroom Classic 13.2 (Windows)" crs:Exposure2012="+0.35" '
       b'xmp:Rating="4"/></rdf:RDF></x:xmpmeta>\n<?xpacket end="w"?>')
LAYOUT_TAGS = frozenset({273, 278, 279})  # strip offsets, byte counts, rows per strip: the writer's own
LENS = "RF24-70mm F2.8 L IS USM"


def _exif_ifd(endian: str, at: int) -> bytes:
    """An Exif IFD placed at file offset ``at``: exposure, ISO, version, date, lens."""
    lens = LENS.encode() + b"\0"
    date = b"2024:05:01 10:11:12\0"
    n = 5
    values_at = at + 2 + 12 * n + 4
    entries = [
        (33434, 5, 1, struct.pack(endian + "I", values_at)),  # ExposureTime 1/125
        (34855, 3, 1, struct.pack(endian + "H", 100) + b"\0\0"),  # ISO 100
        (36864, 7, 4, b"0232"),  # ExifVersion
        (36867, 2, len(date), struct.pack(endian + "I", values_at + 8)),  # DateTimeOriginal
        (42036, 2, len(lens), struct.pack(endian + "I", values_at + 8 + len(date))),  # LensModel
    ]
    out = struct.pack(endian + "H", n)
    for tag, typ, count, value in entries:
        out += struct.pack(endian + "HHI", tag, typ, count) + value
    return out + struct.pack(endian + "I", 0) + struct.pack(endian + "II", 1, 125) + date + lens


def save_tiff(path: Path, pixels: np.ndarray, *, compression: str | None, predictor: bool,
              byteorder: str = "<") -> Path:
    """Write ``pixels`` (uint8 / uint16 RGB) as a Lightroom-like editor's copy (see the module)."""
    extratags = [
        (700, 1, len(XMP), XMP, True),
        (271, "s", 0, "Canon", True),
        (272, "s", 0, "Canon EOS R5", True),
        (315, "s", 0, "Ann Photographer", True),
        (33432, "s", 0, "(c) 2024 Ann Photographer", True),
        (34664, "I", 1, 0, True),  # becomes 34665, the Exif IFD's pointer (tifffile writes no Exif IFD)
    ]
    tifffile.imwrite(path, pixels, photometric="rgb", compression=compression, predictor=predictor or None,
                     resolution=(300, 300), resolutionunit="INCH", iccprofile=ICC,
                     software="Adobe Photoshop Lightroom Classic 13.2 (Windows)", datetime="2024:05:02 09:00:00",
                     description="Studio portrait, white seamless", metadata=None, byteorder=byteorder,
                     extratags=extratags)
    with tifffile.TiffFile(path) as tif:
        entry = tif.pages[0].tags[34664].offset
    size = Path(path).stat().st_size
    at = size + size % 2
    with open(path, "r+b") as f:
        f.seek(size)
        f.write(b"\0" * (at - size) + _exif_ifd(byteorder, at))
        f.seek(entry)
        f.write(struct.pack(byteorder + "HHII", 34665, 4, 1, at))
    with tifffile.TiffFile(path) as tif:  # the file is what it says
        assert tif.pages[0].tags["ExifTag"].value["LensModel"] == LENS
    return Path(path)


def tiff_tags(path: Path) -> dict[int, tuple]:
    """Every tag of a one-image TIFF: code -> (type, count, value), the strip layout left out."""
    with tifffile.TiffFile(path) as tif:
        if len(tif.pages) != 1:
            raise ValueError(f"{path}: {len(tif.pages)} images")
        return {t.code: (t.dtype, t.count, t.value) for t in tif.pages[0].tags if t.code not in LAYOUT_TAGS}
