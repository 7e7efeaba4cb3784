"""``/api/v1/tasks`` and ``/api/v1/backups`` (admins): background jobs and their backups."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.status_codes import HTTP_202_ACCEPTED

from mediaserver.api.access import admin_only
from mediaserver.backup import list_backups
from mediaserver.context import AppContext

__all__ = ["BackupController", "TaskController"]


class TaskController(Controller):
    path = "/api/v1/tasks"
    tags = ["tasks"]
    guards = [admin_only]

    @get("/", sync_to_thread=False, summary="Scheduled jobs: next run, last run, running now")
    def tasks(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        return {"tasks": ctx.task_status()}

    @post(
        "/{task_id:str}/run",
        status_code=HTTP_202_ACCEPTED,
        sync_to_thread=False,
        summary="Run a job now",
    )
    def run(self, ctx: NamedDependency[AppContext], task_id: FromPath[str]) -> dict[str, Any]:
        if task_id not in ctx.tasks:
            raise NotFoundException(detail=f"no task called {task_id!r}")
        return {"task": task_id, "started": ctx.tasks.start(task_id)}


class BackupController(Controller):
    path = "/api/v1/backups"
    tags = ["tasks"]
    guards = [admin_only]

    @get("/", sync_to_thread=True, summary="Backups in the backup folder, newest first")
    def backups(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        return {
            "folder": str(ctx.settings.backup_path),
            "backups": [b.as_dict() for b in list_backups(ctx.settings.backup_path)],
        }
