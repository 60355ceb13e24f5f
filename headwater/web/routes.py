"""The console's pages and actions. Each asks ``api.Project`` and renders what it answers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from headwater.api import current_user
from headwater.cli.render import to_csv, to_json
from headwater.errors import HeadwaterError
from headwater.overview import human_seconds, text_rows
from headwater.web.app import Console


class JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=str, separators=(",", ":")).encode()


SHOWN_ROWS = 1000  # rows of a worksheet result shown on the page (downloads have them all)


def routes(console: Console) -> list[Route]:
    project = console.project

    def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        return console.templates.TemplateResponse(
            request, template, {"human_seconds": human_seconds, **context}, status_code=status
        )

    def problem(request: Request, e: HeadwaterError, *, fragment: bool = False) -> HTMLResponse:
        # Fragments answer 200 so that htmx shows the message in place.
        template = "error_fragment.html" if fragment else "error.html"
        return page(request, template, 200 if fragment else 400, message=e.message, hint=e.hint)

    async def form(request: Request) -> dict[str, str]:
        body = (await request.body()).decode()
        return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}

    # -- pipeline ----------------------------------------------------------------------------
    async def pipeline(request: Request) -> Response:
        return page(request, "pipeline.html")

    async def graph_json(request: Request) -> Response:
        try:
            return JSON(await console.call(project.graph))
        except HeadwaterError as e:
            return JSON({"error": e.message, "hint": e.hint}, status_code=400)

    # -- jobs --------------------------------------------------------------------------------
    async def job(request: Request) -> Response:
        try:
            detail = await console.call(project.job_detail, request.path_params["name"])
        except HeadwaterError as e:
            return problem(request, e)
        return page(request, "job.html", job=detail, series=json.dumps(detail["series"], default=str))

    async def job_live(request: Request) -> Response:
        try:
            detail = await console.call(project.job_detail, request.path_params["name"])
        except HeadwaterError as e:
            return problem(request, e, fragment=True)
        return page(request, "job_live.html", job=detail, series=json.dumps(detail["series"], default=str))

    async def pause(request: Request) -> Response:
        return await pause_or_resume(request, project.pause)

    async def resume(request: Request) -> Response:
        return await pause_or_resume(request, project.resume)

    async def pause_or_resume(request: Request, action: Any) -> Response:
        name = request.path_params["name"]
        try:
            await console.call(action, name)
            detail = await console.call(project.job_detail, name)
        except HeadwaterError as e:
            return problem(request, e, fragment=True)
        return page(request, "job_live.html", job=detail, series=json.dumps(detail["series"], default=str))

    # -- tables ------------------------------------------------------------------------------
    async def table(request: Request) -> Response:
        try:
            detail = await console.call(project.table_detail, request.path_params["name"])
        except HeadwaterError as e:
            return problem(request, e)
        preview = detail.pop("preview")
        return page(
            request,
            "table.html",
            table=detail,
            preview_columns=preview.column_names,
            preview=text_rows(preview),
        )

    # -- quarantine --------------------------------------------------------------------------
    async def quarantine(request: Request) -> Response:
        job_filter = request.query_params.get("job") or None
        reason = (request.query_params.get("reason") or "").strip()
        everything = request.query_params.get("all") == "1"
        try:
            found = await console.call(project.quarantine, job_filter, include_replayed=everything)
            names = await console.call(lambda: [e.name for e in project.validate_files().jobs])
        except HeadwaterError as e:
            return problem(request, e)
        matching = [r for r in found.rows() if reason.lower() in str(r["reason"]).lower()]
        rows = matching[:SHOWN_ROWS]
        reasons = sorted({str(r["reason"]) for r in found.rows()})
        return page(
            request,
            "quarantine.html",
            records=rows,
            matching=len(matching),
            jobs=names,
            reasons=reasons,
            job=job_filter or "",
            reason=reason,
            everything=everything,
        )

    async def record(request: Request) -> Response:
        try:
            found = await console.call(project.quarantine_record, int(request.path_params["id"]))
        except HeadwaterError as e:
            return problem(request, e)
        return page(request, "record.html", record=found, opened=False)

    async def open_record(request: Request) -> Response:
        actor = f"{current_user()} (headwater ui)"
        try:
            found = await console.call(
                project.quarantine_record, int(request.path_params["id"]), decrypt=True, actor=actor
            )
        except HeadwaterError as e:
            return problem(request, e, fragment=True)
        return page(request, "record_raw.html", record=found, opened=True)

    async def replay(request: Request) -> Response:
        fields = await form(request)
        ids = [int(i) for i in fields.get("ids", "").replace(",", " ").split() if i.isdigit()]
        try:
            result = await console.call(project.replay_quarantine, fields.get("job", ""), ids or None)
        except HeadwaterError as e:
            return problem(request, e, fragment=True)
        return page(request, "replayed.html", result=result)

    # -- worksheet ---------------------------------------------------------------------------
    async def worksheet(request: Request) -> Response:
        return page(request, "worksheet.html", sql=request.query_params.get("sql", ""))

    async def run_sql(request: Request) -> Response:
        sql = (await form(request)).get("sql", "")
        try:
            result = await console.call(project.query, sql, allow_writes=console.allow_writes)
        except HeadwaterError as e:
            return problem(request, e, fragment=True)
        table = result.arrow()
        return page(
            request,
            "result.html",
            columns=table.column_names,
            rows=text_rows(table.slice(0, SHOWN_ROWS)),
            total=table.num_rows,
            shown=min(table.num_rows, SHOWN_ROWS),
        )

    async def download(request: Request) -> Response:
        fmt = request.path_params["format"]
        sql = (await form(request)).get("sql", "")
        try:
            result = await console.call(project.query, sql, allow_writes=console.allow_writes)
        except HeadwaterError as e:
            return PlainTextResponse(f"{e.message}\n{e.hint or ''}", status_code=400)
        if fmt == "json":
            body, media = to_json(result.rows()), "application/json"
        else:
            body, media = to_csv(result.columns, result.fetchall()), "text/csv"
        headers = {"content-disposition": f'attachment; filename="result.{fmt}"'}
        return Response(body, media_type=media, headers=headers)

    async def plan(request: Request) -> Response:
        try:
            found = await console.call(project.plan)
        except HeadwaterError as e:
            return problem(request, e, fragment=True)
        return page(request, "plan.html", lines=found.explain(), order=found.order)

    # -- monitoring --------------------------------------------------------------------------
    async def metrics(request: Request) -> Response:
        try:
            text = await console.call(project.metrics)
        except HeadwaterError as e:
            return PlainTextResponse(f"# error: {e.message}\n", status_code=500)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    return [
        Route("/", pipeline),
        Route("/api/graph", graph_json),
        Route("/jobs/{name}", job),
        Route("/jobs/{name}/live", job_live),
        Route("/jobs/{name}/pause", pause, methods=["POST"]),
        Route("/jobs/{name}/resume", resume, methods=["POST"]),
        Route("/tables/{name}", table),
        Route("/quarantine", quarantine),
        Route("/quarantine/replay", replay, methods=["POST"]),
        Route("/quarantine/{id:int}", record),
        Route("/quarantine/{id:int}/open", open_record, methods=["POST"]),
        Route("/worksheet", worksheet),
        Route("/worksheet/run", run_sql, methods=["POST"]),
        Route("/worksheet/download.{format:str}", download, methods=["POST"]),
        Route("/plan", plan),
        Route("/metrics", metrics),
    ]
