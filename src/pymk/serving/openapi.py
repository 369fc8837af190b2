"""The OpenAPI 3.1 document of the HTTP API, written by hand to match :mod:`pymk.serving.http`."""

from __future__ import annotations

from typing import Any

import orjson

from pymk.events.schema import EventType
from pymk.events.validation import Reason
from pymk.serving.recommender import MAX_K
from pymk.serving.service import DEFAULT_K, MAX_BATCH


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "Malformed JSON body"),
    "404": _json(_ref("Error"), "Unknown user"),
    "413": _json(_ref("Error"), f"More than {MAX_BATCH} users, or a body over 1 MiB"),
    "422": _json(_ref("Error"), f"k outside 1..{MAX_K}, or a body of the wrong shape"),
}
_K = {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": DEFAULT_K}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "Item": {
        "type": "object",
        "required": ["user_id", "score", "reasons"],
        "properties": {
            "user_id": {"type": "string"},
            "score": {"type": "number"},
            "reasons": {"type": "object", "additionalProperties": {"type": "number"}},
            "source": {
                "type": "string",
                "enum": ["realtime"],
                "description": "Only on an item the hybrid path added to a stored list: a friend of a "
                "fresh connection of the user's, with its mutual connections as the reason",
            },
        },
    },
    "Recommendations": {
        "type": "object",
        "required": ["user_id", "model_version", "generated_at", "source", "request_id", "items"],
        "properties": {
            "user_id": {"type": "string"},
            "model_version": {"type": "string"},
            "generated_at": {
                "type": "string",
                "format": "date-time",
                "description": "When the list was computed (UTC)",
            },
            "source": {
                "type": "string",
                "enum": ["precomputed", "realtime"],
                "description": "realtime: the model computed the list for this request; precomputed: a "
                "stored list (re-filtered with fresh state in hybrid mode), also when real time ran "
                "past its latency budget",
            },
            "request_id": {
                "type": "string",
                "description": "The request's id (as the X-Request-Id header; one id for every list of a "
                "batch). Echo it with model_version, source and the item's 0-based position in the "
                "props of the impression and click events of this list (see Event)",
            },
            "items": {"type": "array", "items": _ref("Item"), "maxItems": MAX_K},
        },
    },
    "BatchRequest": {
        "type": "object",
        "required": ["user_ids"],
        "additionalProperties": False,
        "properties": {
            "user_ids": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_BATCH},
            "k": _K,
        },
    },
    "BatchResult": {
        "oneOf": [
            _ref("Recommendations"),
            {
                "type": "object",
                "required": ["user_id", "error"],
                "properties": {"user_id": {"type": "string"}, "error": _ref("Error")},
            },
        ]
    },
    "Event": {
        "type": "object",
        "description": "One event (DESIGN §2); validated item by item",
        "required": ["event_id", "ts", "type", "actor"],
        "properties": {
            "event_id": {"type": "string"},
            "ts": {"oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]},
            "type": {"type": "string", "enum": [t.value for t in EventType]},
            "actor": {"type": "string"},
            "target": {"type": ["string", "null"]},
            "props": {
                "type": "object",
                "description": "Free-form, except on impression and click events (actor: the viewer, "
                "target: the recommended user), where these keys attribute the event to the list shown: "
                "none of them (unattributed), or at least request_id, model_version and source",
                "properties": {
                    "request_id": {"type": "string", "minLength": 1, "maxLength": 128},
                    "model_version": {"type": "string", "minLength": 1, "maxLength": 128},
                    "source": {"type": "string", "minLength": 1, "maxLength": 128},
                    "position": {"type": "integer", "minimum": 0, "maximum": MAX_K - 1},
                },
            },
        },
    },
    "EventsAccepted": {
        "type": "object",
        "required": ["accepted", "rejected", "errors"],
        "properties": {
            "accepted": {"type": "integer", "description": "Events published to the event stream"},
            "rejected": {"type": "integer", "description": "Items stored in the dead-letter store"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "reason", "detail"],
                    "properties": {
                        "index": {"type": "integer", "description": "0-based position in the body"},
                        "reason": {"type": "string", "enum": [r.value for r in Reason]},
                        "detail": {"type": "string"},
                    },
                },
            },
        },
    },
    "BatchResponse": {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"type": "array", "items": _ref("BatchResult")}},
    },
}


def openapi() -> dict[str, Any]:
    """The document as a dict."""
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "pymk", "version": "1", "description": "People You May Know recommendations"},
        "paths": {
            "/v1/users/{user_id}/recommendations": {
                "get": {
                    "summary": "Top-k people a user may know, with reasons",
                    "parameters": [
                        {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "k", "in": "query", "required": False, "schema": _K},
                    ],
                    "responses": {"200": _json(_ref("Recommendations"), "The list"), **_ERRORS},
                }
            },
            "/v1/recommendations:batch": {
                "post": {
                    "summary": "Top-k of many users; unknown users get an error entry, in request order",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("BatchRequest")}},
                    },
                    "responses": {"200": _json(_ref("BatchResponse"), "One result per user"), **_ERRORS},
                }
            },
            "/v1/events": {
                "post": {
                    "summary": "Ingest events: valid ones go to the event stream, invalid ones to the "
                    "dead-letter store with their reason",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"type": "array", "items": _ref("Event")}},
                            "application/x-ndjson": {"schema": _ref("Event")},
                        },
                    },
                    "responses": {
                        "202": _json(_ref("EventsAccepted"), "Every item published or dead-lettered"),
                        "400": _ERRORS["400"],
                        "413": _json(_ref("Error"), "A body over 1 MiB"),
                        "503": _json(_ref("Error"), "The event stream cannot be reached"),
                    },
                }
            },
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json(status, "Alive")}}},
            "/readyz": {
                "get": {
                    "summary": "Readiness: lists and the active model version are loaded",
                    "responses": {
                        "200": _json(
                            status,
                            "Ready: model versions, mode, each version's snapshot (as_of, age_s, rows)",
                        ),
                        "503": _json(status, "Nothing loaded yet"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics of every worker process (text format 0.0.4)",
                    "responses": {
                        "200": {
                            "description": "Metrics",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {"schemas": _SCHEMAS},
    }


def openapi_json() -> bytes:
    """The document as JSON bytes, served at ``/openapi.json``."""
    return orjson.dumps(openapi())
