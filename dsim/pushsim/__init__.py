"""istiod's push pipeline as a discrete-event model (simpy): debouncing, the push queue, the
throttle, per-proxy generation and Envoy's apply, under churn.

- ``churn``: the scenario's churn as one timed event stream, shared by every design
- ``configs``: every workload's exact config per design (from the design's accounting), kept
  up to date event by event
- ``visibility``: which workloads see a service (the Sidecar scope)
- ``requests``: a push request, the configs it names, and how two merge (Istio's ``PushRequest.Merge``)
- ``debounce``: the debouncer (after/max, EDS debounce switch, single flight)
- ``lanes``: the dispatcher (throttle, cores, egress) as vectorized max-plus recurrences
- ``pushlog``: the pushes started; what the merge of pushes ``first..latest`` carries
- ``work``: what a proxy push costs (bytes by type, CPU, send, apply), priced once per merge and
  proxy class where every proxy of a class gets the same
- ``fanout``: the istiod replicas' push queues and fan-out over proxies, vectorized between events
- ``costs``: unit costs from the calibration (istiod's CPU per proxy push by
  :mod:`dsim.calibration.istiod_push`, the headline's formula) and the scenario
- ``simulate``: the wiring, one simpy environment per design
- ``metrics``, ``tables``, ``runner``: tallies, result tables with Istio's metric names, the entry point
- ``reference``: the slow twins the tests hold the fast paths to — the push queue
  (``pushqueue.go``, never a proxy twice; re-queued if asked meanwhile), the dispatcher push by
  push in simpy, the exact M/D/c queue
"""
