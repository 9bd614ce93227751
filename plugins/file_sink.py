"""File sink: appends one JSON line per notification, for audits and log shippers."""
from __future__ import annotations

import errno
import json
import os

from kpiengine import hookimpl
from kpiengine.sinks import Notification, Sink

# Errors that will not go away by waiting: the path itself is wrong.
_PERMANENT_ERRNOS = {errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR, errno.EROFS, errno.ENAMETOOLONG,
                     errno.EINVAL}


class FileSink(Sink):
    type_name = "file"
    description = "Append each notification as one JSON line to a file (JSON Lines)."
    options_schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string", "minLength": 1,
                     "description": "file to append to; parent folders are created"},
            "fsync": {"type": "boolean", "default": True,
                      "description": "flush to disk before reporting the notification as delivered"},
        },
        "required": ["path"],
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self.check_options()
        self.path = os.path.expanduser(str(self.options["path"]))

    def send(self, notification: Notification) -> None:
        line = (json.dumps(notification.payload(), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        try:
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
            # one write() on an O_APPEND descriptor: lines from concurrent runs never interleave
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(errno.ENOSPC, "short write")
                if self.options.get("fsync", True):
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            message = f"cannot append to {self.path}: {exc.strerror or exc}"
            if exc.errno in _PERMANENT_ERRNOS:
                raise self.permanent(message + "; fix `path` or the folder's permissions") from None
            raise self.retryable(message) from None  # disk full, I/O error: may clear up


@hookimpl
def kpiengine_sink_types():
    return [FileSink]
