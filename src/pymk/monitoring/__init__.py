"""Monitoring: Prometheus metrics of ``pymk serve`` and ``pymk worker`` and their JSON log lines.

- :mod:`pymk.monitoring.metrics`: the metric families, multi-process setup and the ``/metrics`` text;
- :mod:`pymk.monitoring.recorder`: the serving hot path's cheap per-process accumulation, flushed to
  the metrics about once a second;
- :mod:`pymk.monitoring.worker`: the batch hook that turns ``pymk worker``'s reports into metrics;
- :mod:`pymk.monitoring.logs`: one JSON-lines formatter and the sampled request log;
- :mod:`pymk.monitoring.ctr`: impressions, clicks, CTR and acceptance per model version and source,
  attributed by the request id the lists carry;
- :mod:`pymk.monitoring.profile`, :mod:`pymk.monitoring.drift`, :mod:`pymk.monitoring.monitor`: drift —
  the reference profile saved with each model version, the statistics and verdict, and
  :func:`~pymk.monitoring.monitor.run_monitor` behind ``pymk monitor``;
- :mod:`pymk.monitoring.report`: the HTML page of ``pymk monitor --report``.
"""
