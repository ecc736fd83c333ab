"""Web pages for people: the list of served models, and one page per model with a form
generated from its schema, CSV scoring, the model card and the training report.

The pages hold no prediction logic: their script calls the same JSON API as any client.
Every asset is served from this package; nothing is fetched from the internet.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from dockyard.__about__ import __version__
from dockyard.auth.keys import (
    SESSION_COOKIE,
    APIKey,
    cross_site,
    retry_after_header,
    session_cookie,
)
from dockyard.errors import ModelNotFound
from dockyard.settings import Settings

if TYPE_CHECKING:
    import jinja2

    from dockyard.monitoring.source import LogReader

    # Only a type here: the server imports this module while building its route list.
    from dockyard.predictor.repository import ModelRepository
    from dockyard.web.views import ModelView

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
TEMPLATE_DIR = _HERE / "templates"

# The pages load only their own script, styles and images; inline script and style are
# refused, so a value that slipped through escaping still could not run. (Headers common to
# every response belong to the server's middleware; a browser enforces every CSP it gets.)
_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The standalone report carries its own <style> so it opens from disk; it runs no script.
_REPORT_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "frame-ancestors 'self'"
)
_MEDIA_TYPES = {
    ".png": "image/png",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
}


@cache
def _environment() -> jinja2.Environment:
    # Imported with the first page, not with the route list: a server that only answers
    # the API never loads the template engine.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Pages:
    def __init__(
        self,
        repository: ModelRepository,
        settings: Settings,
        access: APIKey | None,
        log: LogReader | None = None,
    ) -> None:
        self.repository = repository
        self.log = log
        self.settings = settings
        # The server's key, read once when it started: the sign-in page and the
        # middleware that checks the cookie must agree on it.
        self.access = access
        self._views: dict[tuple[str, str], ModelView] = {}

    def _base(self, request: Request) -> str:
        # Behind a proxy that mounts the server under a prefix, links must keep it.
        return str(request.scope.get("root_path", "")).rstrip("/")

    def _view(self, name: str, base: str) -> ModelView:
        # Bundles do not change while a server runs: each model's view is built once.
        key = (name, base)
        view = self._views.get(key)
        if view is None:
            from dockyard.web import views

            predictor = self.repository.get(name)
            view = views.model_view(
                predictor,
                report_url=f"{base}/models/{name}/report",
                versions=self.settings.versions_shown,
            )
            self._views[key] = view
        return view

    def _render(
        self,
        template: str,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **context: object,
    ) -> Response:
        # Every page but the sign-in page is seen only by someone signed in (or holding
        # the key) when the server has one: those pages offer to sign out.
        context.setdefault("signed_in", self.access is not None)
        html = (
            _environment()
            .get_template(template)
            .render(version=__version__, asset_version=__version__, **context)
        )
        return HTMLResponse(
            html,
            status_code=status_code,
            headers={"Content-Security-Policy": _PAGE_POLICY, **(headers or {})},
        )

    async def index(self, request: Request) -> Response:
        base = self._base(request)
        models = [self._view(p.name, base) for p in self.repository]
        return self._render("index.html", base=base, models=models)

    async def model(self, request: Request) -> Response:
        base = self._base(request)
        name = request.path_params["name"]
        try:
            view = self._view(name, base)
        except ModelNotFound as exc:
            return self._not_found(base, str(exc))
        api = f"{base}/v1/models/{name}"
        return self._render(
            "model.html",
            base=base,
            model=view,
            predict_url=f"{api}/predict",
            csv_url=f"{api}/predict/csv",
            example_url=f"{base}/models/{name}/example.csv",
            max_upload=_size(self.settings.max_upload_bytes),
            feedback_url=f"{api}/feedback",
            monitor_url=f"{base}/models/{name}/monitor",
        )

    async def monitor(self, request: Request) -> Response:
        from dockyard.web.monitor import monitor_page

        base = self._base(request)
        name = request.path_params["name"]
        try:
            view = self._view(name, base)
        except ModelNotFound as exc:
            return self._not_found(base, str(exc))
        since = request.query_params.get("since")
        page, status = await monitor_page(self.repository.get(name), self.log, since)
        return self._render("monitor.html", status, base=base, model=view, page=page)

    async def example_csv(self, request: Request) -> Response:
        from dockyard.web import views

        name = request.path_params["name"]
        predictor = self.repository.get(name)
        return Response(
            views.example_csv(predictor),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-example.csv"'},
        )

    async def report_file(self, request: Request) -> Response:
        base = self._base(request)
        name = request.path_params["name"]
        try:
            predictor = self.repository.get(name)
        except ModelNotFound as exc:
            return self._not_found(base, str(exc))
        from dockyard.web import views

        file = request.path_params["file"]
        path = views.report_path(predictor, file)
        if path is None or not path.is_file():
            return self._not_found(base, f"Model '{name}' has no report file '{file[:100]}'.")
        return FileResponse(
            path,
            media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
            headers={"Content-Security-Policy": _REPORT_POLICY},
        )

    async def login_form(self, request: Request) -> Response:
        return self._login_page(request, _safe_next(request.query_params.get("next")))

    def _login_page(
        self,
        request: Request,
        wanted: str,
        error: str | None = None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return self._render(
            "login.html",
            status_code,
            headers,
            base=self._base(request),
            next=wanted,
            error=error,
            signed_in=False,
        )

    async def login(self, request: Request) -> Response:
        base = self._base(request)
        if cross_site(request.scope):
            return self._login_page(request, "/", _CROSS_SITE, 403)
        async with request.form(max_files=0, max_fields=4) as form:
            presented, wanted = form.get("key"), _safe_next(form.get("next"))
        access = self.access
        if access is None:
            return RedirectResponse(f"{base}{wanted}", status_code=303)
        wait = access.attempts.retry_after(request.scope)
        if wait:
            # Refused before the key is compared, right or wrong: no answer to learn from.
            name, value = retry_after_header(wait)
            error = f"Too many failed attempts from this address. Try again in {wait} s."
            return self._login_page(request, wanted, error, 429, {name.decode(): value.decode()})
        if not isinstance(presented, str) or not access.matches(presented):
            access.attempts.fail(request.scope)
            return self._login_page(request, wanted, "That is not the API key.", 401)
        response = RedirectResponse(f"{base}{wanted}", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            access.sessions.issue(),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=int(access.sessions.lifetime),
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        base = self._base(request)
        if cross_site(request.scope):
            return self._login_page(request, "/", _CROSS_SITE, 403)
        access = self.access
        token = session_cookie(request.scope)
        if access is not None and token is not None:
            access.sessions.revoke(token)
        response = RedirectResponse(f"{base}/login" if access else f"{base}/", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    def _not_found(self, base: str, message: str) -> Response:
        return self._render("not_found.html", status_code=404, base=base, message=message)


_CROSS_SITE = (
    "This form was sent from another site. Sign in on this server's own page; behind a "
    "proxy, have it forward the Host header."
)


def _safe_next(value: object) -> str:
    # Only local paths: never redirect a signed-in user to another site.
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//"):
        return value
    return "/"


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if count < 1024:
            return f"{count:g} {unit}"
        count //= 1024
    return f"{count:g} GiB"


def routes(
    repository: ModelRepository,
    settings: Settings,
    access: APIKey | None = None,
    log: LogReader | None = None,
) -> list[BaseRoute]:
    """The pages' routes, for the server's route list; ``access`` is the server's key,
    ``log`` the prediction log the monitoring pages read."""
    pages = Pages(repository, settings, access, log)
    return [
        Route("/", pages.index, methods=["GET"]),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/models/{name}", pages.model, methods=["GET"]),
        Route("/models/{name}/example.csv", pages.example_csv, methods=["GET"]),
        Route("/models/{name}/monitor", pages.monitor, methods=["GET"]),
        Route("/models/{name}/report/{file}", pages.report_file, methods=["GET"]),
        Mount("/static/web", StaticFiles(directory=STATIC_DIR), name="web-static"),
    ]
