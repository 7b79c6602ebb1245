"""Content digests of data and model files, computed once per process per file version."""
import hashlib
import os

__all__ = ["sha256_file"]

_DIGESTS = {}  # (absolute path, size, mtime_ns) -> hex sha256


def sha256_file(path: str) -> str:
    """Hex sha256 of the file's content. Cached per process by (path, size, mtime), so a large
    archive read several times by one run is hashed once; a rewritten file is hashed again."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]
