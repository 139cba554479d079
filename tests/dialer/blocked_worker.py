"""A dialer worker that hangs inside the carrier request (run as a subprocess, then killed).

    python -m tests.dialer.blocked_worker SETTINGS_JSON CALLBACK_ID MARKER

The fake carrier "places" the call (writes MARKER with the request) and then
never returns, the way a worker dies between Twilio's answer and recording it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from voicebot.config import Settings
from voicebot.dialer import jobs


class BlockingDialer:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def create_call(
        self, to: str, from_: str, url: str, status_callback: str, machine_detection: str
    ) -> str:
        self.marker.write_text(json.dumps({"to": to, "url": url}))
        time.sleep(3600)
        raise AssertionError("should have been killed")

    def send_sms(self, to: str, from_: str, body: str) -> None:
        raise AssertionError("no texts here")


async def main(settings: Settings, callback_id: str, marker: Path) -> None:
    runtime = jobs.Runtime.create(settings, dialer=BlockingDialer(marker))
    await jobs.dial(runtime, callback_id)


if __name__ == "__main__":
    fields, callback_id, marker = sys.argv[1:4]
    asyncio.run(main(Settings(**json.loads(fields)), callback_id, Path(marker)))
