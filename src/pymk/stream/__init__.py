"""Event streams: sources the worker consumes (file, Redis Streams, Kafka) and sinks producers publish to.

Open them by URL with :func:`open_source` / :func:`open_sink`; the delivery contract is in
:mod:`pymk.stream.base`.
"""

from pymk.stream.base import EventSink, EventSource, Record
from pymk.stream.urls import open_sink, open_source

__all__ = ["EventSink", "EventSource", "Record", "open_sink", "open_source"]
