"""The JSON API under /api/: the dashboard's data and actions, described by the OpenAPI document at
/api/openapi.json (generated from these docstrings by Starlette's SchemaGenerator).

Authentication: an API key in `X-Api-Key` (dashboard.api_keys), or a dashboard session, whose POSTs then carry the
session's CSRF token in `X-CSRF-Token` (auth.py checks both before any of these runs).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from .. import __version__
from . import controls, data
from .dashboard import torrent_doc

if TYPE_CHECKING:
    from ..monitor import Monitor

SCHEMAS = SchemaGenerator(
    {
        "openapi": "3.0.3",
        "info": {
            "title": "qbittorrent-monitor",
            "version": __version__,
            "description": "What the monitor found and did, and the dashboard's actions. Every path needs an API "
            "key (X-Api-Key) or a dashboard session; a session's POSTs carry X-CSRF-Token.",
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "qbm_session"},
            },
            "schemas": {
                "Message": {
                    "type": "object",
                    "properties": {"ok": {"type": "boolean"}, "message": {"type": "string"}},
                    "required": ["ok", "message"],
                },
                "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
            },
        },
        "security": [{"apiKey": []}, {"session": []}],
    }
)


def _json(doc: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(doc, status_code=status)


def routes(monitor: Monitor) -> list[BaseRoute]:
    async def overview(_: Request) -> Response:
        """
        summary: Services, cycles, counts, the 48-hour chart, outages and the 200 most urgent flagged torrents
        responses:
          200:
            description: The overview
            content:
              application/json:
                schema:
                  type: object
                  required: [now, services, cycles, counts, chart, flagged, flagged_total, outages]
                  properties:
                    now: {type: number}
                    services: {type: array, items: {type: object}}
                    cycles: {type: object}
                    counts: {type: object, additionalProperties: {type: integer}}
                    chart:
                      type: array
                      items:
                        type: object
                        properties: {hour: {type: number}, found: {type: integer}, repaired: {type: integer}}
                    flagged: {type: array, items: {type: object}}
                    flagged_total: {type: integer, description: "every flagged torrent (GET /api/torrents lists them)"}
                    outages: {type: array, items: {type: object}}
          401: {description: Not logged in and no API key}
        """
        return _json(await run_in_threadpool(data.overview, monitor, time.time()))

    async def flagged(_: Request) -> Response:
        """
        summary: The torrents flagged in the last cycle, each with its decision and what happens next and when
        responses:
          200:
            description: Flagged torrents
            content:
              application/json:
                schema:
                  type: array
                  items:
                    type: object
                    required: [client, hash, name, tracker, kind, reason, since, strikes, decision, next, next_at]
                    properties:
                      client: {type: string}
                      hash: {type: string}
                      name: {type: string}
                      tracker: {type: string}
                      kind: {type: string}
                      reason: {type: string}
                      since: {type: number, nullable: true}
                      strikes: {type: integer}
                      decision: {type: string}
                      explanation: {type: string}
                      next: {type: string}
                      next_at: {type: number, nullable: true}
        """
        return _json(await run_in_threadpool(data.flagged, monitor, time.time()))

    async def torrent(request: Request) -> Response:
        """
        summary: Everything `qbittorrent-monitor explain HASH` says of one torrent
        parameters:
          - {name: hash, in: path, required: true, schema: {type: string}}
        responses:
          200: {description: What the monitor knows, content: {application/json: {schema: {type: object}}}}
          404: {description: Never seen, content: {application/json: {schema: {type: object}}}}
        """
        hash_ = controls.valid_hash(request.path_params["hash"])
        if hash_ is None:
            return _json({"error": "not a torrent hash"}, 400)
        doc = await run_in_threadpool(torrent_doc, monitor, hash_)
        return _json(doc, 200 if doc["known"] else 404)

    async def history(request: Request) -> Response:
        """
        summary: The action journal, newest first, each row with its evidence
        parameters:
          - {name: action, in: query, schema: {type: string}, description: "action type (arr_remove, arr_search, ...)"}
          - {name: app, in: query, schema: {type: string}, description: the app instance}
          - {name: result, in: query, schema: {type: string}, description: "done, failed, deferred, ..."}
          - {name: date, in: query, schema: {type: string, format: date}, description: the local day}
        responses:
          200:
            description: The journal
            content:
              application/json:
                schema:
                  type: object
                  required: [filters, options, total, rows]
                  properties:
                    filters: {type: object}
                    options: {type: object}
                    total: {type: integer}
                    rows: {type: array, items: {type: object}}
        """
        filters = {k: request.query_params.get(k, "") for k in data.FILTERS}
        return _json(await run_in_threadpool(data.history, monitor.store, filters))

    async def settings(_: Request) -> Response:
        """
        summary: The effective configuration, secrets masked, with where each value came from
        responses:
          200:
            description: One row per setting
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    config_file: {type: string, nullable: true}
                    settings:
                      type: array
                      items:
                        type: object
                        properties:
                          key: {type: string}
                          value: {}
                          source: {type: string, enum: [cli, environment, file, discovery, default]}
        """
        return _json(await run_in_threadpool(data.settings, monitor))

    async def discovered(_: Request) -> Response:
        """
        summary: What discovery found on the Docker network (no secret), and whether each service is monitored
        responses:
          200:
            description: This start's discovery, else the report the last one wrote
            content:
              application/json:
                schema:
                  type: object
                  required: [source, ran, services, skipped, errors]
                  properties:
                    source: {type: string, enum: [this start, report, none]}
                    ran: {type: boolean}
                    discovered_at: {type: string}
                    docker_socket: {type: string}
                    network: {type: string}
                    report: {type: string}
                    services:
                      type: array
                      items:
                        type: object
                        required: [app, container, matched_by, monitored]
                        properties:
                          app: {type: string}
                          container: {type: string}
                          image: {type: string}
                          matched_by: {type: string}
                          url: {type: string}
                          address: {type: string}
                          port: {type: integer}
                          api_key_found: {type: boolean}
                          api_key_source: {type: string}
                          used_by: {type: array, items: {type: string}}
                          problem: {type: string}
                          monitored: {type: boolean}
                    skipped: {type: array, items: {type: object, additionalProperties: {type: string}}}
                    errors: {type: array, items: {type: string}}
        """
        return _json(await run_in_threadpool(data.discovery, monitor))

    async def undo(request: Request) -> Response:
        """
        summary: Undo what can be undone of the repair that holds this action (its blocklist entry)
        parameters:
          - {name: action_id, in: path, required: true, schema: {type: integer}}
        responses:
          200:
            description: What was undone, and what cannot be
            content:
              application/json:
                schema:
                  type: object
                  properties: {ok: {type: boolean}, lines: {type: array, items: {type: string}}}
        """
        ok, lines = await run_in_threadpool(controls.undo, monitor, int(request.path_params["action_id"]))
        return _json({"ok": ok, "lines": lines})

    async def protect(request: Request) -> Response:
        """
        summary: Protect a torrent (the monitor leaves it alone from the next cycle on)
        parameters:
          - {name: hash, in: path, required: true, schema: {type: string}}
        responses:
          200: {description: Protected, content: {application/json: {schema: {$ref: "#/components/schemas/Message"}}}}
        """
        hash_ = controls.valid_hash(request.path_params["hash"])
        if hash_ is None:
            return _json({"error": "not a torrent hash"}, 400)
        return _json({"ok": True, "message": await run_in_threadpool(controls.protect, monitor, hash_, "")})

    async def unprotect(request: Request) -> Response:
        """
        summary: Remove a protection set from the dashboard
        parameters:
          - {name: hash, in: path, required: true, schema: {type: string}}
        responses:
          200: {description: Unprotected, content: {application/json: {schema: {$ref: "#/components/schemas/Message"}}}}
        """
        hash_ = controls.valid_hash(request.path_params["hash"])
        if hash_ is None:
            return _json({"error": "not a torrent hash"}, 400)
        return _json({"ok": True, "message": await run_in_threadpool(controls.unprotect, monitor, hash_)})

    async def cycle(_: Request) -> Response:
        """
        summary: Run a cycle now (retry now)
        responses:
          200: {description: Asked for, content: {application/json: {schema: {$ref: "#/components/schemas/Message"}}}}
        """
        return _json({"ok": True, "message": controls.retry_now(monitor)})

    async def pause(_: Request) -> Response:
        """
        summary: Pause the monitor (cycles look and decide, and change nothing)
        responses:
          200: {description: Paused, content: {application/json: {schema: {$ref: "#/components/schemas/Message"}}}}
        """
        return _json({"ok": True, "message": await run_in_threadpool(controls.pause, monitor)})

    async def resume(_: Request) -> Response:
        """
        summary: Resume a paused monitor
        responses:
          200: {description: Resumed, content: {application/json: {schema: {$ref: "#/components/schemas/Message"}}}}
        """
        return _json({"ok": True, "message": await run_in_threadpool(controls.resume, monitor)})

    documented: list[BaseRoute] = [
        Route("/api/overview", overview, methods=["GET"]),
        Route("/api/torrents", flagged, methods=["GET"]),
        Route("/api/torrents/{hash}", torrent, methods=["GET"]),
        Route("/api/torrents/{hash}/protect", protect, methods=["POST"]),
        Route("/api/torrents/{hash}/unprotect", unprotect, methods=["POST"]),
        Route("/api/history", history, methods=["GET"]),
        Route("/api/actions/{action_id:int}/undo", undo, methods=["POST"]),
        Route("/api/settings", settings, methods=["GET"]),
        Route("/api/discovery", discovered, methods=["GET"]),
        Route("/api/cycle", cycle, methods=["POST"]),
        Route("/api/pause", pause, methods=["POST"]),
        Route("/api/resume", resume, methods=["POST"]),
    ]

    async def openapi(_: Request) -> Response:
        """
        summary: This document
        responses:
          200: {description: The OpenAPI document}
        """
        return _json(SCHEMAS.get_schema([*documented, Route("/api/openapi.json", openapi)]))

    return [*documented, Route("/api/openapi.json", openapi, methods=["GET"])]
