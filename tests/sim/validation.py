"""Request/response validation against the vendored *arr OpenAPI specs (openapi-core 0.23): Sonarr v3 (v4 builds)
and v5, Radarr v3 (v4.7.5, and the v5/v6 builds), Lidarr, Readarr, Whisparr v2 and v3 (`SPEC_FILES`).

openapi-core checks that the path and method exist, casts and checks declared parameters and
validates JSON bodies. It is lenient where the real apps (ASP.NET Core model binding) or a good
test double should not be, so `validate_request` adds strict checks of its own:

* a query parameter that the operation does not declare is a violation (ASP.NET would silently
  ignore it, which hides client bugs such as a misspelt or version-gated filter);
* a scalar parameter given more than once is a violation;
* booleans must be `true`/`false` (openapi-core also takes yes/no/on/off/1/0; .NET `bool.Parse`
  does not), integers must be plain decimal digits (Python `int()` also takes `1_000`);
* a body sent to an operation without a request body, or a missing body where one is declared.

The specs need a few patches to be usable at all or to describe what the apps really send; each is
applied to an in-memory copy (the vendored files are untouched) and listed in `SPEC_PATCHES`.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.exceptions import SecurityValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict

from sim.commands import all_command_properties

SPEC_DIR = Path(__file__).resolve().parents[1] / "specs"

# StaticResource catch-all routes. "/" declares a path parameter that is not in its template, which
# makes openapi-spec-validator reject the whole document; the UI routes are not simulated anyway.
STATIC_PATHS = ("/", "/{path}", "/content/{path}")

SPEC_FILES = {
    "sonarr": "sonarr-v3-openapi.json",
    "radarr": "radarr-v3-openapi.json",
    "radarr-v4": "radarr-v3-openapi.v4.7.5.json",  # Radarr v4.7.5, the last v4 build
    "sonarr-v5": "sonarr-v5-openapi.json",
    "sonarr-v5-legacy": "sonarr-v3-openapi.v5-develop.json",  # the deprecated /api/v3 a Sonarr v5 still serves
    "lidarr": "lidarr-v1-openapi.json",
    "readarr": "readarr-v1-openapi.json",
    "whisparr": "whisparr-v3-openapi.json",  # Whisparr v2 (Sonarr-based) serves API v3
    "whisparr-v3": "whisparr-v3-openapi.eros.json",  # Whisparr v3 (eros, Radarr-based)
}
COMMANDS_OF = {
    "sonarr": "sonarr",
    "sonarr-v5": "sonarr",
    "sonarr-v5-legacy": "sonarr",
    "whisparr": "sonarr",
    "radarr": "radarr",
    "radarr-v4": "radarr",
    "lidarr": "lidarr",
    "readarr": "readarr",
    "whisparr-v3": "whisparr-v3",
}

SPEC_PATCHES = (
    "removed the StaticResource UI routes '/', '/{path}', '/content/{path}' ('/' declares a path "
    "parameter 'path' that its template lacks, so the spec does not pass openapi-spec-validator)",
    "HttpUri (HealthResource.wikiUrl), TimeSpan (Readarr and Whisparr: timeleft, duration) and Version (Readarr "
    "and Whisparr: databaseVersion, runtimeVersion) are declared as objects; the apps serialise them as strings",
    "CommandResource and Command gain the commands' own properties (episodeIds, seriesId, "
    "seasonNumber, movieIds, ...): the spec omits them although POST /command takes them at the top "
    "level and echoes them in `body` (additionalProperties is false in both schemas)",
    "builds older than Sonarr 4.0.10.2624 / Radarr 5.15.1.9463: QueueResource.status becomes a plain "
    "string and the `status` queue filter is removed",
    "builds older than Sonarr 4.0.1.987 / Radarr 5.3.3.8535: the changeCategory flag is removed",
    "POST /command answers 201 (the spec lists only 200); its body is validated against the 200 schema",
    "Radarr v4: GET /queue and GET /blocklist declare no paging parameters, yet the app reads page, pageSize, "
    "sortKey and sortDirection from the query by hand (Request.ReadPagingResourceFromRequest, v4.7.5): declared",
)
HAND_READ_PAGING = {"radarr-v4": ("/queue", "/blocklist")}
"""Spec kinds whose paged lists read their paging parameters by hand, undeclared in the spec."""

DATE_SPAN = re.compile(r"-?(\d+\.)?\d{2}:\d{2}:\d{2}(\.\d{1,7})?")
INTEGER = re.compile(r"[+-]?\d+")


def is_date_span(value: Any) -> bool:
    """.NET TimeSpan "c" format: [-][d.]hh:mm:ss[.fffffff]."""
    return not isinstance(value, str) or DATE_SPAN.fullmatch(value) is not None


@dataclass(frozen=True)
class SpecVariant:
    kind: str  # a SPEC_FILES key: "sonarr" | "radarr" | "sonarr-v5" | "lidarr" | ...
    legacy_status: bool  # QueueResource.status is a PascalCase string; no `status` queue filter
    change_category: bool  # DELETE /queue has the changeCategory flag

    @property
    def label(self) -> str:
        return f"{self.kind} {api_prefix(raw_spec(self.kind)).rsplit('/', 1)[-1]}"


@functools.cache
def raw_spec(kind: str) -> dict[str, Any]:
    with open(SPEC_DIR / SPEC_FILES[kind], encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def api_prefix(spec: dict[str, Any]) -> str:
    """The spec's API base ("/api/v3"), from its system/status path."""
    return next(p.removesuffix("/system/status") for p in spec["paths"] if p.endswith("/system/status"))


def _drop_query_param(operation: dict[str, Any], name: str) -> None:
    operation["parameters"] = [p for p in operation.get("parameters", []) if p.get("name") != name]


@functools.cache
def patched_spec(variant: SpecVariant) -> dict[str, Any]:
    """The spec the simulator validates against (a patched deep copy; never mutate the result)."""
    spec = copy.deepcopy(raw_spec(variant.kind))
    api = api_prefix(spec)
    for path in STATIC_PATHS:
        spec["paths"].pop(path, None)
    schemas = spec["components"]["schemas"]
    for name in ("HttpUri", "TimeSpan", "Version"):
        if name in schemas:
            schemas[name] = {"type": "string", "nullable": True}
    for name in ("CommandResource", "Command"):
        props = schemas[name]["properties"]
        for prop, schema in all_command_properties(COMMANDS_OF[variant.kind]).items():
            props.setdefault(prop, copy.deepcopy(schema))
    for path in HAND_READ_PAGING.get(variant.kind, ()):
        operation = spec["paths"][f"{api}{path}"]["get"]
        declared = {p.get("name") for p in operation.get("parameters", [])}
        operation["parameters"] = [
            *operation.get("parameters", []),
            *(
                {
                    "name": name,
                    "in": "query",
                    "schema": {"type": kind, "format": "int32"} if kind == "integer" else {"type": kind},
                }
                for name, kind in (
                    ("page", "integer"),
                    ("pageSize", "integer"),
                    ("sortKey", "string"),
                    ("sortDirection", "string"),
                )
                if name not in declared
            ),
        ]
    if variant.legacy_status and f"{api}/queue" in spec["paths"]:
        schemas["QueueResource"]["properties"]["status"] = {"type": "string", "nullable": True}
        _drop_query_param(spec["paths"][f"{api}/queue"]["get"], "status")
    if not variant.change_category and f"{api}/queue/bulk" in spec["paths"]:
        _drop_query_param(spec["paths"][f"{api}/queue/{{id}}"]["delete"], "changeCategory")
        _drop_query_param(spec["paths"][f"{api}/queue/bulk"]["delete"], "changeCategory")
    return spec


@functools.cache
def openapi_for(variant: SpecVariant) -> OpenAPI:
    """Loaded (and spec-validated) once per variant, then shared."""
    config = Config(extra_format_validators={"date-span": is_date_span})
    return OpenAPI.from_dict(patched_spec(variant), config=config)


_LOCKS: dict[SpecVariant, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(variant: SpecVariant) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(variant, threading.Lock())


class OpenAPIRequest:
    """The openapi-core `Request` protocol over what the simulator received."""

    def __init__(
        self,
        *,
        host_url: str,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        body: bytes,
        content_type: str,
    ) -> None:
        self.host_url = host_url
        self.method = method.lower()
        self.path = path
        self.body: bytes | None = body or None
        self.content_type = content_type
        self.query_items = list(query)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(headers),
            cookie=ImmutableMultiDict(),
        )


class OpenAPIResponse:
    """The openapi-core `Response` protocol over what the simulator is about to send."""

    def __init__(self, status_code: int, data: bytes, content_type: str) -> None:
        self.status_code = status_code
        self.data: bytes | None = data or None
        self.content_type = content_type
        self.headers = Headers([("Content-Type", content_type)] if content_type else [])


def describe_error(exc: BaseException) -> str:
    """openapi-core errors carry the useful part in __cause__ (CastError / InvalidSchemaValue)."""
    text = str(exc)
    cause = exc.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if schema_errors:
        details = []
        for err in schema_errors:
            where = "/".join(str(p) for p in err.absolute_path)
            details.append(f"{where}: {err.message}" if where else err.message)
        text += " [" + "; ".join(details) + "]"
    elif cause is not None:
        text += f" [{cause}]"
    return text


class SpecIndex:
    """Path-template matching over the patched spec (concrete paths win over templated ones)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        entries = []
        for template, item in spec["paths"].items():
            regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            entries.append((template.count("{"), template, regex, item))
        entries.sort(key=lambda e: (e[0], -len(e[1])))
        self._entries = [(t, r, i) for _, t, r, i in entries]

    def match(self, path: str) -> tuple[str, dict[str, Any]] | None:
        for template, regex, item in self._entries:
            if regex.match(path):
                return template, item
        return None

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            ref = node["$ref"]
            target: Any = self.spec
            for part in ref.lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node


@functools.cache
def spec_index(variant: SpecVariant) -> SpecIndex:
    return SpecIndex(patched_spec(variant))


def strict_query_errors(
    index: SpecIndex, operation: dict[str, Any], query: list[tuple[str, str]], label: str
) -> list[str]:
    declared = {p["name"]: p for p in operation.get("parameters", []) if p.get("in") == "query"}
    errors: list[str] = []
    values: dict[str, list[str]] = {}
    for key, value in query:
        values.setdefault(key, []).append(value)
    for key, vals in values.items():
        if key == "apikey":  # the API-key security scheme (in: query)
            continue
        param = declared.get(key)
        if param is None:
            hint = [n for n in declared if n.lower() == key.lower()]
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            errors.append(
                f"{label}: query parameter {key!r} is not declared for this operation{extra}; "
                f"declared: {sorted(declared) or 'none'}"
            )
            continue
        schema = index.resolve(param.get("schema", {}))
        is_array = schema.get("type") == "array"
        if not is_array and len(vals) > 1:
            errors.append(f"{label}: query parameter {key!r} is not an array but was given {len(vals)} times")
        item = index.resolve(schema.get("items", {})) if is_array else schema
        for val in vals:
            if item.get("type") == "boolean" and val.lower() not in ("true", "false"):
                errors.append(f"{label}: query parameter {key!r}={val!r} is not a boolean (true/false)")
            elif item.get("type") == "integer" and not INTEGER.fullmatch(val):
                errors.append(f"{label}: query parameter {key!r}={val!r} is not an integer")
    return errors


@dataclass
class RequestCheck:
    template: str | None  # matched spec path template, None if the path is not in the spec
    method_allowed: bool
    errors: list[str]


def validate_request(variant: SpecVariant, request: OpenAPIRequest) -> RequestCheck:
    index = spec_index(variant)
    method = request.method
    label = f"{method.upper()} {request.path}"
    found = index.match(request.path)
    if found is None:
        return RequestCheck(None, False, [f"{label}: path is not in the {variant.label} spec"])
    template, item = found
    operation = item.get(method)
    if operation is None:
        allowed = sorted(m.upper() for m in item if m in ("get", "post", "put", "delete", "patch", "head"))
        return RequestCheck(template, False, [f"{label}: method not in the spec for {template} ({allowed})"])
    errors: list[str] = []
    with _lock_for(variant):
        for exc in openapi_for(variant).iter_request_errors(request):
            if isinstance(exc, SecurityValidationError):
                continue  # authentication is the simulator's own job (401 before validation)
            errors.append(f"{label}: {describe_error(exc)}")
    errors.extend(strict_query_errors(index, operation, request.query_items, label))
    has_body = bool(request.body)
    if "requestBody" in operation and not has_body:
        errors.append(f"{label}: the operation takes a JSON request body but none was sent")
    elif "requestBody" not in operation and has_body:
        errors.append(f"{label}: a request body was sent but the operation declares none")
    return RequestCheck(template, True, list(dict.fromkeys(errors)))


def validate_response(
    variant: SpecVariant, request: OpenAPIRequest, status: int, data: bytes, content_type: str
) -> list[str]:
    """Validate a 2xx response of the simulator itself against the spec's response schema."""
    if not 200 <= status < 300 or request.method == "head":
        return []
    documented = spec_index(variant).match(request.path)
    responses = (documented[1].get(request.method, {}).get("responses", {})) if documented else {}
    if status == 201 and "201" not in responses and "200" in responses:
        status = 200  # the app answers 201 Created; the v3/v1 specs only document 200
    response = OpenAPIResponse(status, data, content_type)
    errors = []
    with _lock_for(variant):
        for exc in openapi_for(variant).iter_response_errors(request, response):
            errors.append(f"RESPONSE {request.method.upper()} {request.path} -> {status}: {describe_error(exc)}")
    return errors
