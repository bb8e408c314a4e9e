"""`read_idx`: reads the IDX format of (Fashion-)MNIST into numpy."""

import gzip
import math
import os
import zlib

import numpy as np

from keras_nachos.errors import invalid_type
from keras_nachos.errors import invalid_value

# IDX type codes (third byte of the magic number) and their big-endian dtypes.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path):
    """Reads an IDX file (gzipped when its name ends in `.gz`) into numpy.

    Args:
        path: Path of an existing file.

    Returns:
        A numpy array with the file's shape and (native-endian) dtype.

    Example:

    >>> labels = read_idx("/usr/share/datasets/fashion-mnist/"
    ...                   "t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
    >>> labels.shape, labels.dtype  # doctest: +SKIP
    ((10000,), dtype('uint8'))
    """
    if not isinstance(path, (str, os.PathLike)):
        raise invalid_type("path", "a file path (str or os.PathLike)", path)
    file_name = os.fspath(path)
    if not isinstance(file_name, str) or not file_name:
        raise invalid_value("path", "the path of an IDX file", path)
    if not os.path.exists(file_name):
        raise invalid_value(
            "path",
            f"the path of an IDX file, but {file_name} does not exist",
            path,
        )
    if os.path.isdir(file_name):
        raise invalid_value(
            "path",
            f"the path of an IDX file, but {file_name} is a directory",
            path,
        )

    def not_idx(reason):
        return invalid_value(
            "path", f"an IDX file, but {file_name} {reason}", path
        )

    gzipped = file_name.endswith(".gz")
    opener = gzip.open if gzipped else open
    try:
        with opener(file_name, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise not_idx(
            f"is not a complete gzip file (it may be truncated): {error}"
        ) from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise not_idx(
            "has no IDX magic number (it must start with two zero bytes; "
            f"the file starts with {data[:4]!r})"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_DTYPES:
        raise not_idx(
            f"has an unknown type code {type_code:#04x} "
            f"(expected one of {sorted(hex(c) for c in _IDX_DTYPES)})"
        )
    dtype = _IDX_DTYPES[type_code]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise not_idx(
            f"is truncated: its header declares {ndim} dimensions, i.e. "
            f"{header} header bytes, but the file has {len(data)} bytes"
        )
    shape = tuple(
        int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4)
    )
    expected = header + math.prod(shape) * dtype.itemsize
    if len(data) != expected:
        raise not_idx(
            f"is truncated or corrupt: its header declares shape {shape} of "
            f"{dtype}, i.e. {expected} bytes, but the file has {len(data)} "
            "bytes"
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))
