"""Console sink: prints a readable notification to stdout (or stderr), for local runs and cron logs."""
from __future__ import annotations

import sys

from kpiengine import hookimpl
from kpiengine.render import to_markdown, to_text
from kpiengine.sinks import Notification, Sink


class ConsoleSink(Sink):
    type_name = "console"
    description = "Print alerts to the terminal (stdout or stderr)."
    options_schema = {
        "type": "object",
        "properties": {
            "stream": {"enum": ["stdout", "stderr"], "default": "stdout"},
            "format": {"enum": ["text", "markdown"], "default": "text"},
        },
        "additionalProperties": False,
    }

    def __init__(self, name, options):
        super().__init__(name, options)
        self.check_options()

    def send(self, notification: Notification) -> None:
        # looked up at send time, so a redirected sys.stdout (tests, daemons) is honoured
        stream = sys.stderr if self.options.get("stream") == "stderr" else sys.stdout
        render = to_markdown if self.options.get("format") == "markdown" else to_text
        try:
            stream.write(render(notification).rstrip("\n") + "\n\n")
            stream.flush()
        except (OSError, ValueError) as exc:  # closed pipe or closed stream: nobody is reading
            raise self.permanent(f"cannot write to {self.options.get('stream', 'stdout')}: {exc}") from None


@hookimpl
def kpiengine_sink_types():
    return [ConsoleSink]
