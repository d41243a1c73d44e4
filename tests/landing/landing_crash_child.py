"""Child process of the crash test: recover like an agent start, then land frames until killed.

Prints ``capture <id>`` once, then ``progress <written> <durable>`` lines (rows handed to the writer, rows
the writer reports fsynced or published), so the parent knows what must survive a ``kill -9``.
Frame ``n`` of a capture is ``42["tick",{"n":n,"pad":"…"}]``: the content says which seq it must land at.
"""

import sys
import time
from pathlib import Path

from capture_agent.landing.recovery import recover
from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.writer import LandingWriter


def main(data_dir: str, fsync_interval: float) -> None:
    recover(Path(data_dir))
    writer = LandingWriter(Path(data_dir), Source.DIRECT, fsync_interval_s=fsync_interval, segment_max_rows=400)
    print(f"capture {writer.capture_id}", flush=True)
    pad = "x" * 300
    n = 0
    while True:
        for _ in range(50):
            writer.frame(Direction.IN, Transport.WEBSOCKET, f'42["tick",{{"n":{n},"pad":"{pad}"}}]')
            n += 1
        stats = writer.stats
        print(f"progress {n} {stats.durable_seq} {time.monotonic()}", flush=True)
        time.sleep(0.002)  # not a wait: a steady writer, as a live capture is, with the sync thread running


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
