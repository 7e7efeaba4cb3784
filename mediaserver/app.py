"""``create_app(settings)``: the one place a Litestar app is put together.

Nothing is created at import time; every app gets its own context (catalog, services,
plugin manager), so tests can run many apps side by side.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from mediaserver import __version__, memory
from mediaserver.api import (
    access,
    activity,
    activity_log,
    analytics,
    auth,
    discovery,
    dlna,
    errors,
    favourites,
    folders,
    fonts,
    hls,
    items,
    libraries,
    live,
    openapi,
    pairing,
    playback,
    progress,
    recommendations,
    scan,
    search,
    system,
    tasks,
    trickplay,
    users,
)
from mediaserver.api.guard import AuthMiddleware, RateLimiter
from mediaserver.api.middleware import RequestIdMiddleware
from mediaserver.api.security import RedocPage, add_security_headers
from mediaserver.config import Settings
from mediaserver.context import AppContext, build_context
from mediaserver.logs import logging_config
from mediaserver.ui import account, admin, browse, filters, lookup, pages, picker, setup, signin
from mediaserver.ui import activity_log as activity_log_pages
from mediaserver.ui import analytics as analytics_pages
from mediaserver.ui import libraries as library_pages
from mediaserver.ui import recommendations as recommendation_pages

__all__ = ["create_app", "web_root"]


def web_root() -> Path:
    """``web/`` in a checkout, ``mediaserver/_web`` inside an installed wheel."""
    packaged = Path(__file__).parent / "_web"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "web"


def create_app(settings: Settings, *, context: AppContext | None = None) -> Litestar:
    ctx = context or build_context(settings)
    if settings.server.rate_limit_per_minute:
        ctx.rate_limiter = RateLimiter(settings.server.rate_limit_per_minute)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        ctx.start()
        trimmer = memory.Trimmer()  # freed memory goes back to the system
        trimmer.start()
        await ctx.start_watching()
        await ctx.start_discovery()
        try:
            yield
        finally:
            trimmer.stop()
            await ctx.stop_discovery()
            await ctx.stop_watching()
            ctx.stop()

    class Metrics(PrometheusController):
        path = "/metrics"
        include_in_schema = False
        guards = [access.admin_only]

    def server_name() -> str:
        """The name the admin gave the server, for the top bar and page titles; an error
        page (the catalog unreadable) still renders, as plain "Hearth"."""
        try:
            return ctx.profile.get().name
        except Exception:
            return ""

    def template_engine(engine: JinjaTemplateEngine) -> None:
        filters.install(engine)
        engine.engine.globals["server_name"] = server_name

    templates = TemplateConfig(
        directory=web_root() / "templates",
        engine=JinjaTemplateEngine,
        engine_callback=template_engine,
    )
    app = Litestar(
        # JSON bodies are small; a bigger one is refused (413) before it is read into memory.
        request_max_body_size=1024 * 1024,
        plugins=[openapi.StrictBodies()],  # bodies that refuse unknown fields say so
        route_handlers=[
            system.HealthController,
            discovery.DiscoveryController,
            dlna.DlnaStatusController,
            dlna.DlnaController,
            dlna.events,
            libraries.LibraryController,
            folders.FolderController,
            items.ItemController,
            items.GenreController,
            search.SearchController,
            search.PersonController,
            playback.PlaybackController,
            progress.ProgressController,
            progress.HomeController,
            favourites.FavouriteController,
            recommendations.RecommendationController,
            live.LiveController,
            activity.PlaybackEventController,
            activity_log.ActivityLogController,
            analytics.AnalyticsController,
            tasks.TaskController,
            tasks.BackupController,
            auth.AuthController,
            pairing.PairingController,
            users.UserController,
            hls.MasterPlaylistController,
            hls.HlsController,
            hls.SubtitleController,
            fonts.FontController,
            scan.ScanController,
            trickplay.TrickplayController,
            pages.PageController,
            browse.BrowsePages,
            lookup.LookupPages,
            signin.SignInController,
            picker.PickerController,
            account.AccountController,
            admin.AdminController,
            library_pages.LibraryPages,
            setup.SetupWizard,
            activity_log_pages.ActivityLogPage,
            analytics_pages.AnalyticsPages,
            recommendation_pages.RecommendationPages,
            Metrics,
            create_static_files_router(
                path="/static",
                directories=[web_root() / "static"],
                include_in_schema=False,
                cache_control=None,
                opt={"public": True},
            ),
        ],
        # One dependency only: with two, Litestar resolves them in a task group, which
        # cost list requests a third of their speed (bench/api.py); handlers that filter
        # by the viewer call api.access.viewer_access(request) instead.
        dependencies={"ctx": Provide(lambda: ctx, use_cache=True, sync_to_thread=False)},
        guards=[access.catalog_guard],  # a hidden item or library is a 404 on every route
        lifespan=[lifespan],
        before_send=[add_security_headers],  # every response, 404s and static files too
        state=State({"hearth": ctx, "repeated_errors": errors.RepeatedErrors()}),
        middleware=[
            RequestIdMiddleware,
            AuthMiddleware,
            PrometheusConfig(app_name="hearth", prefix="hearth", group_path=True).middleware,
        ],
        template_config=templates,
        exception_handlers=errors.HANDLERS,
        logging_config=logging_config(settings.logging),
        openapi_config=OpenAPIConfig(
            title="Hearth",
            version=__version__,
            path="/schema",
            # A home server may have no internet: the docs page uses our vendored Redoc.
            render_plugins=[
                RedocPage(
                    path=["/", "/redoc"],
                    js_url="/static/vendor/redoc-2.5.4/redoc.standalone.js",
                    google_fonts=False,
                    favicon='<link rel="icon" type="image/svg+xml" href="/static/favicon.svg">',
                )
            ],
        ),
    )
    openapi.document_responses(app)  # 401, 403, 404, 429, ... from the layers around handlers
    app.before_send.append(openapi.allow_header(app))
    return app
