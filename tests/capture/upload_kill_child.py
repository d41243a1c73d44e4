"""Child process of the kill -9 upload test: land ``segments`` segments in a cache, then upload them until killed.

The store's reply to the third successful PUT never arrives in time: the child writes ``<cache>/../stalled`` and
waits there, the object already in the bucket but not yet in the journal — the worst moment for a kill -9.
"""

import sys
import time
from pathlib import Path

from capture_agent.config import RemoteRoot
from capture_agent.landing.schema import Direction, Source, Transport
from capture_agent.landing.upload import Created, S3Store, Uploader, UploadTarget
from capture_agent.landing.writer import LandingWriter


class StallsAfterTheThirdPut(S3Store):
    created = 0

    def create(self, key, local, sha256, rows):
        outcome = super().create(key, local, sha256, rows)
        if isinstance(outcome, Created):
            self.created += 1
            if self.created == 3:
                (local_cache.parent / "stalled").write_text(key)
                time.sleep(600)  # not a wait: the upload hangs here, after its PUT and before its journal line, until the kill
        return outcome


def main(bucket: str, cache: str, segments: int) -> None:
    global local_cache
    local_cache = Path(cache)
    with LandingWriter(local_cache, Source.SYNTHETIC, segment_max_rows=30, agent_id="c0ffee00") as writer:
        for n in range(segments * 30):
            writer.frame(Direction.IN, Transport.WEBSOCKET, f'42["gameStateUpdate",{{"tick":{n}}}]')
    target = UploadTarget(RemoteRoot(bucket, "team"), local_cache, "c0ffee00")
    uploader = Uploader(target, store=StallsAfterTheThirdPut(target.remote))
    uploader.start()
    time.sleep(600)  # not a wait: the child lives until the test kills it


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
