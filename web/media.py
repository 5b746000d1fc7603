"""The media folder: which videos a user may pick, and uploads into it.

A name sent by the page is checked as text first (relative, no `..`, no drive or backslash, no
control characters); only a name that passes is joined to the media folder, and the joined path
must still lie inside it after symlinks are resolved. So `../../etc/passwd` or `/etc/passwd`
is refused before any file system call is made with it.

Uploads are streamed to `uploads/` under a sanitised name, cut off past the size limit, then
opened with VideoReader: a file that is not a decodable video (or is truncated) is deleted and
the reader's message is returned.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

from videothought.web.config import VIDEO_SUFFIXES

logger = logging.getLogger(__name__)

UPLOADS = "uploads"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class MediaError(ValueError):
    """A request names a file the app will not read, or sent one it will not keep. The message is for the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def check_relative_name(name: str, folder: str = "the media folder") -> PurePosixPath:
    """The name as a relative POSIX path, or MediaError when it could leave the folder. No file
    system access. `folder` names the folder in the message ("the runs folder", ...)."""
    if not isinstance(name, str) or not name.strip():
        raise MediaError("no file name given")
    if any(ord(c) < 32 for c in name) or "\\" in name or ":" in name:
        raise MediaError(f"{name!r} is not a name inside {folder} (control characters, '\\' or ':')")
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", "") for part in name.split("/")) or not path.parts:
        raise MediaError(f"{name!r} is outside {folder}: give a path relative to it, without '..'")
    return path


def resolve_inside(root: Path, name: str, folder: str = "the media folder") -> Path:
    """root / name, refused (MediaError) unless the name is lexically relative and the file,
    symlinks resolved, lies inside root. `folder` names root in the message."""
    relative = check_relative_name(name, folder)
    root = root.resolve()
    path = (root / relative).resolve()
    if not _inside(root, path):
        raise MediaError(f"{name!r} is outside {folder} (a link out of it)")
    return path


def _inside(root: Path, path: Path) -> bool:
    """Whether the resolved `path` is the resolved `root` or lies under it."""
    return path == root or root in path.parents


def list_media(root: Path) -> list[dict]:
    """Video files under the media folder: [{"name": relative path, "bytes": size}], sorted by name.
    Hidden folders (the app's own state) are skipped, and so are links out of the folder: a file
    the user could not pick (resolve_inside refuses it) is not offered."""
    if not root.is_dir():
        return []
    found, resolved_root = [], root.resolve()
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for file_name in sorted(files):
            if file_name.lower().endswith(VIDEO_SUFFIXES) and not file_name.startswith("."):
                path = Path(folder) / file_name
                if not _inside(resolved_root, path.resolve()) or not path.is_file():
                    continue
                found.append({"name": path.relative_to(root).as_posix(), "bytes": path.stat().st_size})
    return found


def probe_video(path: Path, label: str | None = None) -> dict:
    """Open the file as a video (header and frame count checked: a truncated file is refused).
    Returns its metadata; raises MediaError with the reader's reason."""
    from videothought.perception.video import VideoError, VideoReader

    try:
        with VideoReader(path) as reader:
            return reader.metadata.to_dict()
    except VideoError as error:
        raise MediaError(f"{label or path.name} is not a readable video: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    """The reader's reason without the path it prefixes (the user knows which file they sent)."""
    return getattr(error, "problem", None) or str(error)


def upload_name(original: str) -> str:
    """A safe file name for an upload: the original's characters outside [A-Za-z0-9._-] replaced,
    a video suffix required."""
    base = _SAFE_NAME.sub("_", PurePosixPath(original.replace("\\", "/")).name).strip("._") or "video"
    if not base.lower().endswith(VIDEO_SUFFIXES):
        raise MediaError(f"{original!r} is not a video file name (expected one of {', '.join(VIDEO_SUFFIXES)})")
    return base[-120:]


async def store_upload(root: Path, original_name: str, chunks: AsyncIterator[bytes], *, max_bytes: int,
                       declared_bytes: int | None = None) -> dict:
    """Stream an upload into root/uploads/, keep it only if it is a readable video.

    Returns {"name": its path relative to root, "bytes", "metadata"}. The stored name carries the
    first 8 hex digits of the content's SHA-256, so two uploads never overwrite each other."""
    if declared_bytes is not None and declared_bytes > max_bytes:
        raise MediaError(f"the upload is {declared_bytes} bytes; the limit is {max_bytes} bytes", status=413)
    name = upload_name(original_name)
    folder = root / UPLOADS
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    partial = folder / f".{name}.part-{os.getpid()}-{id(chunks)}"
    size = 0
    try:
        with open(partial, "wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise MediaError(f"the upload is over the limit of {max_bytes} bytes", status=413)
                digest.update(chunk)
                handle.write(chunk)
        if size == 0:
            raise MediaError(f"{original_name!r} is empty")
        stem, suffix = os.path.splitext(name)
        final = folder / f"{stem}-{digest.hexdigest()[:8]}{suffix}"
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    try:
        metadata = probe_video(final, label=original_name)
    except MediaError:
        final.unlink(missing_ok=True)
        raise
    logger.info("stored upload %s (%d bytes)", final, size)
    return {"name": final.relative_to(root).as_posix(), "bytes": size, "metadata": metadata}
