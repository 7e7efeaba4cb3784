"""Everything one running Hearth holds: settings, catalog, bus, plugins and services.

``AppContext.start()`` opens the catalog and starts background work; ``stop()`` ends it.
The web app's lifespan and the CLI both use this, so a scan from the CLI behaves exactly
like one from the server.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from mediaserver import metrics
from mediaserver.accounts.auth import AuthService
from mediaserver.accounts.pairing import PairingService
from mediaserver.accounts.users import UserService
from mediaserver.activity.analytics import Analytics
from mediaserver.activity.events import PlaybackEvents
from mediaserver.activity.log import ActivityLog
from mediaserver.activity.now_playing import NowPlaying
from mediaserver.activity.progress import ProgressService
from mediaserver.activity.rollups import Rollups
from mediaserver.backup import hold_data_folder, prune, take_backup
from mediaserver.config import Settings
from mediaserver.data_folder import tighten
from mediaserver.db import Database
from mediaserver.events import Event, EventBus
from mediaserver.ffmpeg_tools import find_ffmpeg
from mediaserver.health import HealthCheck
from mediaserver.library.folders import FolderBrowser
from mediaserver.library.libraries import Libraries
from mediaserver.library.scanner import Scanner
from mediaserver.library.service import LibraryService
from mediaserver.library.watcher import LibraryWatcher
from mediaserver.plugins.manager import PluginManager
from mediaserver.recommend.service import Recommender
from mediaserver.server_profile import ServerProfileStore
from mediaserver.streaming.keyframes import KeyframeIndex
from mediaserver.streaming.segment_cache import SegmentCache
from mediaserver.streaming.service import StreamingService
from mediaserver.streaming.styled import StyledSubtitleCache
from mediaserver.streaming.tokens import load_secret
from mediaserver.streaming.transcoder import Transcoder
from mediaserver.streaming.trickplay import RUN_INTERVAL_MINUTES, TrickplayService
from mediaserver.tasks import Tasks

__all__ = ["AppContext", "build_context"]

log = structlog.get_logger(__name__)


@dataclass
class AppContext:
    settings: Settings
    db: Database
    bus: EventBus
    plugins: PluginManager
    library: LibraryService  # scans, and the libraries the config file names
    libraries: Libraries  # libraries made in the web UI
    folders: FolderBrowser
    profile: ServerProfileStore  # the server's name and languages, chosen in the web UI
    ffmpeg_path: str
    ffmpeg_source: str
    images_dir: Path
    streaming: StreamingService
    transcoder: Transcoder
    keyframes: KeyframeIndex
    subtitles: StyledSubtitleCache
    users: UserService
    auth: AuthService
    trickplay: TrickplayService
    pairing: PairingService
    progress: ProgressService
    playback_events: PlaybackEvents
    rollups: Rollups
    activity_log: ActivityLog
    analytics: Analytics
    now_playing: NowPlaying
    recommender: Recommender
    health: HealthCheck  # what /health reports
    demo: bool = False  # the demo library is showing
    rate_limiter: Any = None  # api.guard.RateLimiter, set by create_app
    announcer: Any = None  # discovery.mdns.Announcer while the server announces itself
    dlna: Any = None  # dlna.service.DlnaServer while DLNA is on
    setup_code: str | None = None  # while no admin exists: the one-time set-up link's code
    startup_state: str = "starting"  # starting | generating demo library | ready
    _scheduler: Any = None
    _folder_lock: Any = None
    tasks: Tasks = field(default_factory=Tasks)
    watcher: LibraryWatcher | None = None  # while the library folders are watched
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, *, background: bool = True) -> None:
        """Open the catalog, load plugins, find libraries and (in the server) start scanning."""
        if background:  # one server per data folder; a restore waits for it to stop
            self._folder_lock = hold_data_folder(self.settings.data_path)
            self._folder_lock.__enter__()
            self._make_data_private()
        self.db.open()
        if background:  # a lost key says so now, not at someone's sign-in
            self.auth.two_factor.check_key()
        self.activity_log.subscribe()  # before any scan, sign-in or task can happen
        self.db.write_latency_observer = metrics.DB_WRITE_LATENCY.observe
        metrics.DB_WRITE_QUEUE.set_function(lambda: self.db.write_queue_depth)
        self.now_playing.attach()
        self.recommender.candidates = self._plugin_candidates
        metrics.PLAYBACK_SESSIONS.set_function(self.now_playing.count)
        if background and not self.users.has_admin():  # the server, not a CLI scan
            import secrets
            import sys

            self.setup_code = secrets.token_urlsafe(12)
            host, port = self.settings.server.host, self.settings.server.port
            shown = "localhost" if host in ("0.0.0.0", "::", "") else host
            shown = f"[{shown}]" if ":" in shown else shown
            link = f"http://{shown}:{port}/setup?code={self.setup_code}"
            log.warning("no admin yet: open the set-up link to create one", link=link)
            print(f"\nHearth has no admin yet. Create one at:\n  {link}\n", file=sys.stderr)
        self.transcoder.open()
        self.plugins.load_entry_points()
        self.bus.subscribe(self.plugins.on_event)
        self.plugins.call("mediaserver_startup", context=self)
        if background:
            if self.settings.streaming.trickplay:
                # Each finished scan starts a preview run (a running one goes round again).
                self.bus.subscribe(lambda *_: self.trickplay.request_run(), Event.SCAN_FINISHED)
            thread = threading.Thread(target=self._prepare_libraries, name="startup", daemon=True)
            thread.start()
            self._threads.append(thread)
            self._start_scheduler()
        else:
            self._sync_libraries()

    def _make_data_private(self) -> None:
        """Files an older Hearth left readable by other local users become the server's
        own (``data_folder.py``), with one line saying how many."""
        roots = [self.settings.data_path, self.settings.backup_path]
        changed = tighten(roots)
        if changed:
            log.warning(
                "made the data folder private: other local users could read these files",
                folder=str(self.settings.data_path),
                files_and_folders=len(changed),
                examples=[str(p) for p in changed[:3]],
            )

    def _sync_libraries(self) -> list[int]:
        """The config file's libraries, the web UI's, and the demo only when there is no
        other library and none was ever added in the web UI."""
        ids = self.library.sync_libraries(list(self.settings.media_paths))
        web = [int(lib["id"]) for lib in self.libraries.all() if lib["source"] == "web"]
        if ids or web or self.profile.get().demo_retired:
            self.library.sync_libraries([], source="demo")  # hidden, not lost
            self.demo = False
            return ids + web
        from mediaserver.library.demo import ensure_demo_library

        self.demo = True
        self.startup_state = "generating demo library"

        def progress(done: int, total: int, name: str) -> None:
            self.startup_state = f"generating demo library ({done}/{total})"

        demo = ensure_demo_library(self.settings.data_path, self.ffmpeg_path, on_progress=progress)
        return self.library.sync_libraries([demo], ["Demo library"], source="demo")

    def libraries_changed(self) -> None:
        """A library was added, re-foldered or removed in the web UI: watch its folders
        (from any thread)."""
        self.demo = self.libraries.demo_showing()
        if self.watcher is not None:
            self.watcher.folders_changed()

    def _prepare_libraries(self) -> None:
        try:
            ids = self._sync_libraries()
        except Exception:
            log.exception("could not prepare the libraries")
            self.startup_state = "failed"
            return
        self.startup_state = "ready"
        if self.watcher is not None:
            # Watch first, then scan: a file landing between the two is seen by one of them.
            self.watcher.watching.wait(timeout=5)
        if self.settings.library.scan_on_startup:
            self.library.request_scan(ids)

    def _register_tasks(self) -> None:
        """Every background job, scheduled or not, so the tasks page can list and run it."""

        def scan() -> None:
            self.library.request_scan()
            self.library.wait_idle()

        def scan_state() -> str | None:
            status = self.library.status().as_dict()
            if status["state"] != "idle":
                return f"scanning {status.get('library') or ''}: {status.get('done')}/{status.get('total')}"
            return None

        def trickplay_state() -> str | None:
            status = self.trickplay.status()
            if status.get("state") == "idle":
                return None
            return f"{status.get('state')}: {status.get('files_done')}/{status.get('files_total')}"

        self.tasks.add("library-scan", "Scan all libraries", scan, scan_state)
        self.tasks.add(
            "trickplay", "Build trickplay previews", self.trickplay.request_run, trickplay_state
        )
        self.tasks.add("backup", "Back up the catalog", self._backup_or_raise)
        if self.settings.recommendations.enabled:
            self.tasks.add(
                "recommendations",
                "Compute recommendations",
                self.recommender.run_in_child,
                self._recommendations_state,
            )
        self.tasks.add("rollup", "Total up playback events", self._roll_up)

    def _recommendations_state(self) -> str | None:
        progress = self.recommender.progress
        return f"people done: {progress[0]}/{progress[1]}" if progress else None

    def _recommend_soon(self) -> None:
        """After ``after_events`` progress reports, a run (or, during one, one more after it)."""
        every = self.settings.recommendations.after_events
        if not every or "recommendations" not in self.tasks:
            return
        lock = threading.Lock()
        seen = [0]

        def count(*_: object) -> None:
            with lock:
                seen[0] += 1
                due = seen[0] >= every
                if due:
                    seen[0] = 0
            if due:
                self.tasks.start("recommendations", again=True)

        self.bus.subscribe(count, Event.PROGRESS)

    def _plugin_candidates(self, user_id: int) -> list[tuple[int, str]]:
        offered = self.plugins.call(
            "mediaserver_recommendation_candidates", user_id=user_id, context=self
        )
        return [(int(i), str(r)) for batch in offered for i, r in batch][:100]

    def _start_scheduler(self) -> None:
        self._register_tasks()
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = BackgroundScheduler(daemon=True)

        def schedule(task_id: str, trigger: str, job_id: str | None = None, **when: int) -> None:
            self._scheduler.add_job(
                self.tasks.runner(task_id),
                trigger,
                id=job_id or task_id,
                name=self.tasks.name(task_id),
                coalesce=True,
                max_instances=1,
                **when,
            )

        if self.settings.backup.nightly:
            schedule("backup", "cron", hour=self.settings.backup.hour)
        if "recommendations" in self.tasks:
            picks = self.settings.recommendations
            schedule("recommendations", "cron", hour=picks.hour)
            if picks.interval_hours:
                schedule("recommendations", "interval", "recommendations-often",
                         hours=picks.interval_hours)  # fmt: skip
            self._recommend_soon()
        if self.settings.library.scan_interval_minutes:
            schedule(
                "library-scan", "interval", minutes=self.settings.library.scan_interval_minutes
            )
        schedule("rollup", "interval", minutes=60)
        if self.settings.streaming.trickplay:  # catches up on files a stopped run left behind
            schedule("trickplay", "interval", minutes=RUN_INTERVAL_MINUTES)
        self._scheduler.start()

    def default_name(self) -> str:
        """What the server is called when nobody named it: "Hearth on <host name>"."""
        import socket

        host = socket.gethostname().split(".")[0] or "home"
        return f"Hearth on {host}"

    def lan_name(self) -> str:
        """What TVs, apps and other nodes call this server: the config file's name, else
        the one chosen in the web UI, else the default."""
        return self.settings.discovery.name or self.profile.get().name or self.default_name()

    async def start_discovery(self) -> None:
        """Start the DLNA server, and announce both it and the server on the LAN (unless
        turned off, or MEDIASERVER_DISCOVERY=off)."""
        from mediaserver import __version__
        from mediaserver.discovery.mdns import Announcer, discovery_allowed, server_id

        chosen = self.settings.discovery
        announce = chosen.enabled and discovery_allowed()
        node_id = server_id(self.settings.data_path)
        if self.settings.dlna.enabled:
            from mediaserver.dlna.service import DlnaServer

            self.dlna = DlnaServer(
                udn=f"uuid:{node_id}",
                name=self.lan_name(),
                version=__version__,
                user_name=self.settings.dlna.user,
                db=self.db,
                users=self.users,
                bus=self.bus,
            )
            self.dlna.attach(asyncio.get_running_loop())
            if announce:
                server = self.settings.server
                await self.dlna.start_announcing(server.port, chosen.interfaces, server.host)
        if not announce:
            return
        self.announcer = Announcer(
            name=self.lan_name(),
            node_id=node_id,
            version=__version__,
            port=self.settings.server.port,
            interfaces=chosen.interfaces,
            bound=self.settings.server.host,
        )
        try:
            await self.announcer.start()
        except OSError as exc:  # no multicast here (a container without a LAN)
            log.warning("could not announce on the LAN", error=str(exc))
            self.announcer = None

    async def stop_discovery(self) -> None:
        if self.announcer is not None:
            await self.announcer.stop()
            self.announcer = None
        if self.dlna is not None:
            await self.dlna.stop()
            self.dlna = None

    async def start_watching(self) -> None:
        """Rescan a library a few seconds after files change in it (see library/watcher.py)."""
        if not self.settings.library.watch:
            return
        self.watcher = LibraryWatcher(
            self.library,
            self.settings.library.watch_debounce_seconds,
            ready=lambda: self.startup_state in ("ready", "failed"),
        )
        await self.watcher.start()

    async def stop_watching(self) -> None:
        if self.watcher is not None:
            await self.watcher.stop()

    def streaming_file(self, file_id: int) -> dict[str, Any]:
        """A file row with its streams as stored (sidecar paths included), for the engine;
        :class:`~mediaserver.library.links.OutsideLibrary` if it now lies outside its library."""
        row = self.db.query_one("SELECT * FROM files WHERE id = ?", [file_id])
        if row is None:
            raise KeyError(file_id)
        self.library.check_reachable(int(row["library_id"]), row["path"])
        file = dict(row)
        file["streams"] = [
            dict(s)
            for s in self.db.query(
                "SELECT * FROM streams WHERE file_id = ? ORDER BY idx", [file_id]
            )
        ]
        return file

    def subtitle_attributes(self, stream: dict[str, Any]) -> dict[str, str]:
        from mediaserver.streaming.subtitles import rendition_attrs

        return rendition_attrs(stream)

    def _backup_or_raise(self) -> Path:
        """Take a backup and keep the newest ``backup.keep`` (the tasks list records how
        it went)."""
        path = take_backup(self.settings.database_path, self.settings.backup_path)
        gone = prune(self.settings.backup_path, self.settings.backup.keep)
        log.info("backup taken", path=str(path), pruned=len(gone))
        return path

    def _roll_up(self) -> None:
        """The hourly housekeeping: playback totals, then old activity log entries go."""
        self.rollups.run()
        self.activity_log.prune()

    def task_status(self) -> list[dict[str, Any]]:
        return self.tasks.status(self._scheduler)

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        self.trickplay.stop()
        self.recommender.stop()
        self.transcoder.close()
        self.keyframes.close()
        self.library.close()
        self.plugins.call("mediaserver_shutdown", context=self)
        self.activity_log.close()
        self.db.close()
        if self._folder_lock is not None:
            self._folder_lock.__exit__(None, None, None)
            self._folder_lock = None


def build_context(settings: Settings) -> AppContext:
    """Wire the services together; nothing is opened or started yet."""
    ffmpeg_path, source = find_ffmpeg(settings.ffmpeg.ffmpeg)
    db = Database(settings.database_path)
    bus = EventBus()
    images_dir = settings.data_path / "images"
    scanner = Scanner(
        db,
        bus,
        ffmpeg_binary=ffmpeg_path,
        images_dir=images_dir,
        probe_workers=settings.library.probe_workers,
        probe_timeout_s=settings.library.probe_timeout_seconds,
        image_workers=settings.library.poster_workers,
        network=settings.network if settings.library.fetch_artwork else None,
    )
    cache = SegmentCache(settings.cache_path / "hls", settings.streaming.cache_max_mb * 1024 * 1024)
    secret = load_secret(settings.data_path)
    transcoder = Transcoder(
        ffmpeg_path,
        cache,
        secret,
        run_dir=settings.cache_path / "run",
        max_transcodes=settings.streaming.transcode_limit,
        max_remuxes=settings.streaming.max_remuxes,
        idle_timeout_s=settings.streaming.idle_timeout_seconds,
        queue_wait_s=settings.streaming.queue_seconds,
        throttle_segments=settings.streaming.throttle_segments
        if settings.streaming.throttle
        else None,
    )
    keyframes = KeyframeIndex(db)
    users = UserService(db)
    library = LibraryService(db, bus, scanner)
    folders = FolderBrowser(settings.library.browse_roots)
    profile = ServerProfileStore(db)
    auth = AuthService(db, users, secret, bus)
    context = AppContext(
        settings=settings,
        users=users,
        auth=auth,
        pairing=PairingService(auth),
        playback_events=PlaybackEvents(db, bus),
        rollups=Rollups(db, keep_days=settings.activity.keep_events_days),
        activity_log=ActivityLog(db, bus, keep_days=settings.activity.keep_events_days),
        tasks=Tasks(bus),
        analytics=Analytics(db),
        now_playing=NowPlaying(db, bus),
        recommender=Recommender(db, users),
        health=HealthCheck(db, settings.database_path.parent, ffmpeg_path),
        progress=ProgressService(db, bus, watched_fraction=settings.activity.watched_percent / 100),
        streaming=StreamingService(settings.streaming, transcoder, keyframes, secret),
        transcoder=transcoder,
        keyframes=keyframes,
        subtitles=StyledSubtitleCache(ffmpeg_path, settings.cache_path / "subtitles"),
        trickplay=TrickplayService(
            db,
            ffmpeg_binary=ffmpeg_path,
            cache_dir=settings.cache_path,
            interval_s=settings.streaming.trickplay_interval_seconds,
            width=settings.streaming.trickplay_width,
            enabled=settings.streaming.trickplay,
            busy=transcoder.at_capacity,  # previews wait while transcodes fill every slot
        ),
        db=db,
        bus=bus,
        plugins=PluginManager(),
        library=library,
        libraries=Libraries(db, library, folders, profile, data_dir=settings.data_path),
        folders=folders,
        profile=profile,
        ffmpeg_path=ffmpeg_path,
        ffmpeg_source=source,
        images_dir=images_dir,
    )
    context.libraries.on_change = context.libraries_changed
    return context
