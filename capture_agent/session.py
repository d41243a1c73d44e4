"""One capture, from start to stop: what ``vectra capture``, ``vectra demo`` and the tests all run.

A :class:`CaptureSession` takes typed :class:`CaptureOptions` and, in this order: recovers the WAL an earlier run
left open (one line when something had to be set aside) → starts the embedded simulator when it is the source →
opens the landing writer → builds the recorder and its observers (the live state, the frame limit, the live feed,
the caller's own) → starts the source (direct, browser, or the simulator through either), the scripted player and
the live status view; with an :class:`~capture_agent.landing.upload.UploadTarget`, an uploader thread sends every
published segment to the object store in the background (never on the capture path). It runs until the first stop condition — the source ends or fails, ``duration_s``,
``max_frames``, SIGINT/SIGTERM (``handle_signals``) or :meth:`CaptureSession.stop` — then closes all of it in
reverse order, publishes the last segment, makes one last upload pass and returns a :class:`CaptureResult`. A source that fails raises its
:class:`~capture_agent.errors.VectraError` once everything is closed; ``session.result`` holds the figures then too.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from capture_agent.errors import VectraError
from capture_agent.extras import load_simulator
from capture_agent.landing.recovery import Recovery, recover
from capture_agent.landing.schema import RecordType, Source
from capture_agent.landing.upload import Uploader, UploadFigures, UploadTarget
from capture_agent.landing.writer import LandingWriter, WriterStats
from capture_agent.live.feed import DEFAULT_QUEUE, FeedServer, check_bind
from capture_agent.live.origin import Origin
from capture_agent.live.state import LiveState
from capture_agent.live.status import health, show_status, use_rich_live
from capture_agent.redact import redact_url
from capture_agent.sources.browser import BrowserOptions, BrowserSource, check_display
from capture_agent.sources.direct import DirectOptions, DirectSource
from capture_agent.sources.recorder import Captured, Observer, Recorder

AUTOPLAY_NEEDS_THE_PAGE = "--autoplay trades: it only drives the simulator's page (--source simulator --via browser)"
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class SimulatorOptions:
    """The embedded simulator as the source: started and stopped by the session and captured through ``via``, whose
    ``url`` the session fills in."""

    speed: float = 1.0
    bots: int = 8
    seed: str = "vectra"
    via: DirectOptions | BrowserOptions = field(default_factory=DirectOptions)
    autoplay: bool = False  # a scripted player clicks the page's trade controls: own actions in the capture

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise VectraError("--speed must be positive")
        if self.bots < 0:
            raise VectraError("--bots must be 0 or more")
        if self.via.url:
            raise VectraError("--source simulator starts its own server: drop --url (or use --source direct --url …)")
        if self.autoplay and not isinstance(self.via, BrowserOptions):
            raise VectraError(AUTOPLAY_NEEDS_THE_PAGE)


@dataclass(frozen=True)
class FeedOptions:
    """The live feed (``/feed``), ``/health`` and the monitor page; on this machine only unless ``public``."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port (the session's ``feed.port`` says which)
    public: bool = False
    allowed_origins: frozenset[Origin] = frozenset()  # other pages allowed to read it (docs/SECURITY.md)
    queue_size: int = DEFAULT_QUEUE  # events per client before a slow one is dismissed

    def __post_init__(self) -> None:
        check_bind(self.host, self.port, public=self.public)


class StatusView(StrEnum):
    LIVE = "live"  # a live table on a terminal, else a one-line log every few seconds
    LOG = "log"  # a one-line log every few seconds
    OFF = "off"


@dataclass(frozen=True)
class CaptureOptions:
    data_dir: Path
    source: DirectOptions | BrowserOptions | SimulatorOptions
    fsync_interval_s: float = 0.1  # WAL fsync interval: the most a kill -9 can cost
    segment_max_seconds: float = 900.0  # a segment is published at least this often (a short capture: lower it)
    duration_s: float | None = None
    max_frames: int | None = None  # frames in + out
    feed: FeedOptions | None = None
    status: StatusView = StatusView.OFF
    handle_signals: bool = False  # SIGINT/SIGTERM stop the capture cleanly (the CLI); a library caller keeps its own
    upload: UploadTarget | None = None  # an s3:// data root: ``data_dir`` is then its local cache

    def __post_init__(self) -> None:
        source = self.source
        if isinstance(source, DirectOptions) and not source.url:
            raise VectraError("--source direct needs --url (e.g. --url http://127.0.0.1:8000)")
        if isinstance(source, BrowserOptions) and not (source.url or source.connect_cdp):
            raise VectraError("--source browser needs --url (e.g. --url http://127.0.0.1:8000)")
        if not isinstance(source, (DirectOptions, BrowserOptions, SimulatorOptions)):
            raise TypeError(f"a capture's source is DirectOptions, BrowserOptions or SimulatorOptions, not {type(source).__name__}")
        if self.fsync_interval_s <= 0:
            raise VectraError("--fsync-ms must be positive")
        if self.segment_max_seconds <= 0:
            raise VectraError("--segment-seconds must be positive")
        if self.duration_s is not None and self.duration_s <= 0:
            raise VectraError("--duration must be positive")
        if self.max_frames is not None and self.max_frames <= 0:
            raise VectraError("--max-frames must be positive")

    @property
    def landing_source(self) -> Source:
        """What the landing rows name as their source."""
        if isinstance(self.source, SimulatorOptions):
            return Source.SIMULATOR
        return Source.DIRECT if isinstance(self.source, DirectOptions) else Source.BROWSER

    @property
    def connection(self) -> DirectOptions | BrowserOptions:
        """How the frames are taken: the source's options, or those the simulator is captured through."""
        return self.source.via if isinstance(self.source, SimulatorOptions) else self.source


class ExitReason(StrEnum):
    DURATION = "duration"
    MAX_FRAMES = "max_frames"
    SIGNAL = "signal"  # SIGINT or SIGTERM
    STOPPED = "stopped"  # CaptureSession.stop(), or the run was cancelled
    SOURCE_ENDED = "source_ended"  # e.g. the browser's page was closed
    FAILED = "failed"  # the source (or the session) raised: e.g. a server never reached within the give-up window


@dataclass(frozen=True)
class CaptureResult:
    capture_id: str
    data_dir: Path
    exit_reason: ExitReason
    rows: int
    frames_in: int
    frames_out: int
    segments: int
    bytes_published: int
    drops: int  # rows lost: the writer's (0: it raises instead) and the source's (a body the browser no longer had)
    recovery: Recovery
    uploads: UploadFigures | None = None  # with an upload target: where the uploads stood at the end

    def summary(self) -> str:
        return (
            f"capture {self.capture_id}, {self.rows} rows ({self.frames_in} in, {self.frames_out} out), "
            f"{self.segments} segment(s), {self.bytes_published} bytes published, drops {self.drops}"
        )


class _FrameLimit:
    """Observer that stops the capture after ``limit`` frames."""

    def __init__(self, limit: int, stop: Callable[[], None]) -> None:
        self.limit = limit
        self.frames = 0
        self.stop = stop

    def observe(self, captured: Captured) -> None:
        if captured.record_type is RecordType.FRAME:
            self.frames += 1
            if self.frames >= self.limit:
                self.stop()


class CaptureSession:
    """Run one capture with :meth:`run`; ``say`` receives the lines a user should read (none by default)."""

    def __init__(
        self, options: CaptureOptions, *, observers: Sequence[Observer] = (), say: Callable[[str], None] | None = None
    ) -> None:
        connection = options.connection
        if isinstance(connection, BrowserOptions):
            check_display(connection)  # before anything starts: one line, nothing half done
        self.options = options
        self.recovery: Recovery | None = None
        self.writer: LandingWriter | None = None
        self.source: DirectSource | BrowserSource | None = None
        self.feed: FeedServer | None = None
        self.uploader: Uploader | None = None
        self.result: CaptureResult | None = None
        self.started = asyncio.Event()  # set once the source runs
        self._observers = list(observers)
        self._say = say or (lambda _text: None)
        simulated = isinstance(options.source, SimulatorOptions)
        label = options.landing_source.value
        self._state = LiveState(f"simulator via {_via(connection)}" if simulated else label)
        self._stop = asyncio.Event()
        self._exit_reason: ExitReason | None = None
        self._tasks: list[asyncio.Task] = []

    # --- while it runs ---------------------------------------------------------------------------------------

    def stop(self, reason: ExitReason = ExitReason.STOPPED) -> None:
        """Ask the capture to end (from the event loop's thread): what is queued is landed and published."""
        if self._exit_reason is None:
            self._exit_reason = reason
        self._stop.set()

    @property
    def stats(self) -> WriterStats:
        return self.writer.stats if self.writer is not None else WriterStats()

    @property
    def losses(self) -> int:
        return getattr(self.source, "losses", 0)

    def figures(self) -> dict[str, Any]:
        """The live figures behind the status view and the feed's ``/health``."""
        figures = health(self._state.snapshot(time.monotonic_ns()), self.stats, source_losses=self.losses)
        if self.uploader is not None:
            uploads = self.uploader.figures()
            figures.update(uploads_pending=uploads.pending, uploads_done=uploads.done, uploads_collisions=uploads.collisions)
        return figures

    # --- the run ---------------------------------------------------------------------------------------------

    async def run(self) -> CaptureResult:
        options = self.options
        self.recovery = recover(options.data_dir)
        if self.recovery.published:
            self._say(f"recovered {len(self.recovery.published)} segment(s) from the WAL of an earlier run that did not close")
        if line := self.recovery.report():
            self._say(line)
        async with contextlib.AsyncExitStack() as stack:
            try:
                await self._start(stack)
                await self._until_stopped()
            except asyncio.CancelledError:
                self.stop(ExitReason.STOPPED)
                raise
            except BaseException:
                self.stop(ExitReason.FAILED)
                raise
        return self.result

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        options = self.options
        loop = asyncio.get_running_loop()
        connection = options.connection
        if options.upload is not None:  # first: a missing s3 extra is one line before anything starts
            self.uploader = Uploader(options.upload, say=self._say)
            self.uploader.start()
            stack.push_async_callback(self._finish_uploads)
        if isinstance(options.source, SimulatorOptions):
            simulator = self._start_simulator(options.source)
            stack.callback(simulator.stop)
            connection = replace(connection, url=simulator.url)
        agent_id = options.upload.agent_id if options.upload is not None else None
        self.writer = LandingWriter(options.data_dir, options.landing_source, fsync_interval_s=options.fsync_interval_s,
                                    segment_max_seconds=options.segment_max_seconds, agent_id=agent_id)
        stack.callback(self._finish)
        recorder = Recorder(self.writer, [self._state, *self._observers])
        if options.max_frames:
            recorder.observers.append(_FrameLimit(options.max_frames, lambda: self.stop(ExitReason.MAX_FRAMES)))
        if isinstance(connection, DirectOptions):
            self.source = DirectSource(recorder, connection)
        else:
            self.source = BrowserSource(recorder, connection if connection.say else replace(connection, say=self._say))
        if options.handle_signals:
            for signum in _SIGNALS:
                loop.add_signal_handler(signum, self.stop, ExitReason.SIGNAL)
            stack.callback(_remove_signal_handlers, loop)
        if options.feed is not None:
            feed = self.feed = FeedServer(self.figures, queue_size=options.feed.queue_size, allowed_origins=options.feed.allowed_origins)
            await feed.start(options.feed.host, options.feed.port)
            stack.push_async_callback(feed.stop)
            recorder.observers.append(feed)
            self._say(f"live feed on ws://{feed.host}:{feed.port}/feed, monitor http://{feed.host}:{feed.port}/")
        where = connection.url or getattr(connection, "connect_cdp", None) or ""
        target = f"{options.data_dir}/landing"
        if options.upload is not None:
            target = f"{options.upload.remote}/landing through the cache {options.data_dir}"
        self._say(f"capture {self.writer.capture_id} → {target} ({redact_url(where)})")
        stack.push_async_callback(self._close_source)
        if isinstance(self.source, BrowserSource):
            await self.source.start()
        stack.push_async_callback(self._cancel_tasks)
        self._tasks.append(loop.create_task(self.source.run(), name="source"))
        if options.status is not StatusView.OFF:
            rich_live = use_rich_live(no_status=options.status is not StatusView.LIVE)
            self._tasks.append(loop.create_task(show_status(self.figures, rich_live=rich_live), name="status"))
        if isinstance(options.source, SimulatorOptions) and options.source.autoplay:
            play = load_simulator("scripted_player").play
            self._tasks.append(loop.create_task(play(self.source.page, say=self._say), name="autoplay"))
        self.started.set()

    def _start_simulator(self, simulator: SimulatorOptions):
        handle = load_simulator("server").start_simulator(speed=simulator.speed, seed=simulator.seed, bots=simulator.bots)
        self._say(f"simulator at {handle.url} (speed {simulator.speed}, {simulator.bots} bots), captured via {_via(simulator.via)}")
        return handle

    async def _until_stopped(self) -> None:
        source_task = self._tasks[0]
        stop_wait = asyncio.get_running_loop().create_task(self._stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait({source_task, stop_wait}, timeout=self.options.duration_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop_wait.cancel()
        if source_task in done:
            source_task.result()  # a source that fails raises here, and is reported once everything is closed
            self.stop(ExitReason.SOURCE_ENDED)
        elif not done:
            self.stop(ExitReason.DURATION)

    # --- closing, in reverse order (the exit stack) ----------------------------------------------------------------

    async def _cancel_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _close_source(self) -> None:
        if isinstance(self.source, BrowserSource):
            await self.source.close()

    def _finish(self) -> None:
        """Publish the last segment, then the figures of the whole capture."""
        writer = self.writer
        writer.close()
        stats = writer.stats
        self.result = CaptureResult(
            capture_id=writer.capture_id,
            data_dir=Path(self.options.data_dir),
            exit_reason=self._exit_reason or ExitReason.STOPPED,
            rows=stats.rows,
            frames_in=stats.frames_in,
            frames_out=stats.frames_out,
            segments=stats.segments_published,
            bytes_published=stats.bytes_published,
            drops=stats.drops + self.losses,
            recovery=self.recovery,
        )


    async def _finish_uploads(self) -> None:
        """The last segment is published by now: one last pass, off the event loop."""
        figures = await asyncio.to_thread(self.uploader.close)
        if self.result is not None:
            self.result = replace(self.result, uploads=figures)


def _remove_signal_handlers(loop: asyncio.AbstractEventLoop) -> None:
    for signum in _SIGNALS:
        loop.remove_signal_handler(signum)


def _via(connection: DirectOptions | BrowserOptions) -> str:
    return "direct" if isinstance(connection, DirectOptions) else "browser"
