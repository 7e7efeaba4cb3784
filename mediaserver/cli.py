"""The ``mediaserver`` command: serve, scan, doctor, user, backup and restore.

A configuration mistake is one line on stderr and exit code 2, never a traceback.  Every
command runs under umask 077: what it writes in the data folder is the server user's alone.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mediaserver import __version__
from mediaserver.config import ConfigError, Settings, load_settings
from mediaserver.data_folder import make_private
from mediaserver.db import DatabaseError
from mediaserver.db.sealing import SealingError, check_catalog
from mediaserver.ffmpeg_tools import FfmpegNotFound
from mediaserver.words import plural

__all__ = ["main"]

EXIT_CONFIG = 2


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config) if args.config else None)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from mediaserver import memory
    from mediaserver.app import create_app
    from mediaserver.backup import ServerRunning, hold_data_folder

    memory.limit_arenas()  # before any worker thread starts (mediaserver/memory.py says why)
    settings = _settings(args)
    try:  # a clear line now, rather than a failed start-up later
        with hold_data_folder(settings.data_path):
            check_catalog(settings.database_path)  # the two-factor key is where it should be
    except (ServerRunning, SealingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    app = create_app(settings)
    host, port = settings.server.host, settings.server.port
    shown = "localhost" if host in ("0.0.0.0", "::") else host
    print(
        f"Hearth {__version__} is starting on http://{shown}:{port}  (data: {settings.data_path})",
        flush=True,
    )
    if not settings.library.media_dirs:
        print(
            "No media folders configured: serving a demo library (set MEDIASERVER_MEDIA_DIRS).",
            flush=True,
        )
    # Everything imported so far lives as long as the process: keep it out of the cyclic
    # collector's way, and collect young objects less often.  Full collections over the
    # whole heap were the p99 of bench/api.py (75 ms -> 53 ms).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    from mediaserver.http_protocol import BoundedHttpToolsProtocol

    # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1
    # before we see the request; server.trusted_proxies is the one place that decides.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=False,
        http=BoundedHttpToolsProtocol,  # header size and time limits (http_protocol.py)
        # Live event streams and long direct-play downloads never end by themselves: a
        # stop waits this long for them, then closes them.
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_scan(args: argparse.Namespace) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from mediaserver.context import build_context
    from mediaserver.logs import logging_config

    settings = _settings(args)
    logging_config(settings.logging, minimum="warning").configure()  # the bar tells the rest
    ctx = build_context(settings)
    if not settings.library.media_dirs:
        _generate_demo(settings, ctx.ffmpeg_path, args.quiet)
    ctx.start(background=False)
    try:
        libraries = ctx.library.libraries()
        if args.library is not None:
            libraries = [lib for lib in libraries if lib["id"] == args.library]
            if not libraries:
                print(f"error: no library with id {args.library}", file=sys.stderr)
                return 1
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[current]}"),
            TimeElapsedColumn(),
            disable=args.quiet,
        ) as bar:
            for lib in libraries:
                task = bar.add_task(f"{lib['name']}: starting", total=None, current="")

                def progress(
                    phase: str,
                    done: int,
                    total: int,
                    current: str | None,
                    task: TaskID = task,
                    name: str = lib["name"],
                ) -> None:
                    bar.update(
                        task,
                        description=f"{name}: {phase}",
                        completed=done,
                        total=total or None,
                        current=(current or "")[:40],
                    )

                report = ctx.library.scan_now(int(lib["id"]), progress)
                bar.update(task, description=f"{lib['name']}: done", current="")
                print(
                    f"{lib['name']}: {plural(report.files_seen, 'file')}, "
                    f"{report.unchanged} unchanged, {report.probed} probed, {report.moved} moved, "
                    f"{len(report.items_added)} added, {len(report.items_removed)} removed, "
                    f"{plural(report.problems, 'problem')} in {report.duration_s:.2f} s"
                )
    finally:
        ctx.stop()
    return 0


def _generate_demo(settings: Settings, ffmpeg_path: str, quiet: bool) -> None:
    from rich.progress import Progress

    from mediaserver.library.demo import ensure_demo_library

    with Progress(disable=quiet) as bar:
        task = bar.add_task("Generating the demo library", total=None)
        ensure_demo_library(
            settings.data_path,
            ffmpeg_path,
            on_progress=lambda done, total, name: bar.update(task, completed=done, total=total),
        )


def cmd_doctor(args: argparse.Namespace) -> int:
    from mediaserver.doctor import run_doctor

    return run_doctor(_settings(args))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        raise SystemExit("error: give --password-stdin to read the password from a pipe")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise SystemExit("error: the two passwords differ")
    return first


def cmd_user(args: argparse.Namespace) -> int:
    from mediaserver.accounts.passwords import WeakPassword
    from mediaserver.accounts.totp import TwoFactor
    from mediaserver.accounts.users import UserError, UserService
    from mediaserver.db import Database

    settings = _settings(args)
    db = Database(settings.database_path)
    db.open()
    try:
        users = UserService(db)
        if args.action == "list":
            for user in users.all():
                print(f"{user.id}\t{user.name}\t{'admin' if user.is_admin else 'member'}")
            return 0
        try:
            if args.action == "add":
                user = users.create(args.name, _read_password(args), admin=args.admin)
                role = "an admin" if user.is_admin else "a member"
                print(f"added {user.name} ({role}, id {user.id})")
                return 0
            found = users.by_name(args.name)
            if found is None:
                print(f"error: no user called {args.name!r}", file=sys.stderr)
                return 1
            if args.action == "two-factor-off":
                TwoFactor(db, b"").disable(found.id)  # needs no key: it forgets the secret
                print(f"two-factor sign-in is off for {found.name}; they can set it up again")
            else:
                revoked = users.set_password(found.id, _read_password(args))
                print(f"changed the password of {found.name}; {revoked} sessions and keys revoked")
        except (UserError, WeakPassword) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    finally:
        db.close()


def _config_file(args: argparse.Namespace) -> Path | None:
    given = args.config or os.environ.get("MEDIASERVER_CONFIG")
    return Path(given) if given else None


def cmd_backup(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from mediaserver.backup import BackupError, prune, take_backup

    settings = _settings(args)
    folder = Path(args.to).expanduser() if args.to else settings.backup_path
    with Progress(
        TextColumn("backing up the catalog"), BarColumn(), DownloadColumn(), disable=args.quiet
    ) as bar:
        task = bar.add_task("backup", total=None)

        def progress(done: int, total: int) -> None:  # SQLite counts pages of 4 KiB
            bar.update(task, completed=done * 4096, total=total * 4096)

        try:
            path = take_backup(
                settings.database_path,
                folder,
                config_file=_config_file(args),
                on_progress=progress,
            )
        except BackupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    gone = [] if args.to else prune(folder, settings.backup.keep)
    print(f"backed up to {path}" + (f" (removed {len(gone)} older)" if gone else ""))
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from mediaserver.accounts.users import UserService
    from mediaserver.db import Database
    from mediaserver.recommend.service import Recommender

    settings = _settings(args)
    with (
        Database(settings.database_path) as db,
        Progress(
            TextColumn("recommendations"), BarColumn(), MofNCompleteColumn(), disable=args.quiet
        ) as bar,
    ):
        task = bar.add_task("people", total=None)
        result = Recommender(db, UserService(db)).run(
            on_progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
        bar.update(task, completed=result.people, total=result.people)  # none: "0/0", not "?"
    print(f"recommendations for {plural(result.people, 'person', 'people')} from "
          f"{plural(result.titles, 'title')} in {result.seconds:.1f} s")  # fmt: skip
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from mediaserver.backup import BackupError, restore

    settings = _settings(args)
    try:
        kept = restore(Path(args.file), settings.database_path, settings.data_path)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.file}" + (f"; the replaced catalog is kept as {kept}" if kept else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mediaserver", description="Hearth, a home media server.")
    parser.add_argument("--version", action="version", version=f"Hearth {__version__}")
    parser.add_argument("--config", help="TOML config file (default: $MEDIASERVER_CONFIG)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the server (the default)").set_defaults(fn=cmd_serve)
    scan = sub.add_parser("scan", help="scan the libraries now, with a progress bar")
    scan.add_argument("--library", type=int, help="only this library id")
    scan.add_argument("--quiet", action="store_true", help="no progress bar")
    scan.set_defaults(fn=cmd_scan)
    sub.add_parser("doctor", help="check ffmpeg, the data folder and the catalog").set_defaults(
        fn=cmd_doctor
    )
    user = sub.add_parser("user", help="add users, change passwords, list users")
    actions = user.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user (prompts for the password)")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may manage users and libraries")
    passwd = actions.add_parser("passwd", help="set a user's password; signs them out everywhere")
    passwd.add_argument("name")
    for action in (add, passwd):
        action.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
    actions.add_parser("list", help="list the users")
    off = actions.add_parser(
        "two-factor-off", help="turn a user's two-factor sign-in off (a lost phone or key)"
    )
    off.add_argument("name")
    user.set_defaults(fn=cmd_user)
    backup = sub.add_parser("backup", help="copy the catalog and config, while the server runs")
    backup.add_argument("--to", help="folder (default: [backup] dir, keeping the newest N)")
    backup.add_argument("--quiet", action="store_true", help="no progress bar")
    backup.set_defaults(fn=cmd_backup)
    recommend = sub.add_parser("recommend", help="compute everyone's recommendations now")
    recommend.add_argument("--quiet", action="store_true", help="no progress bar")
    recommend.set_defaults(fn=cmd_recommend)
    restore = sub.add_parser("restore", help="put a backup back (the server must be stopped)")
    restore.add_argument("file", help="a hearth-*.sqlite3 backup")
    restore.set_defaults(fn=cmd_restore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    fn = getattr(args, "fn", cmd_serve)
    make_private()  # before anything is written
    try:
        return int(fn(args))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (FfmpegNotFound, DatabaseError, SealingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
