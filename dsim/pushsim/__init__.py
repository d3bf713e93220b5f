"""istiod's push pipeline as a discrete-event model (simpy): debouncing, the push queue, the
throttle, per-proxy generation and Envoy's apply, under churn.

- ``churn``: the scenario's churn as one timed event stream, shared by every design
- ``sizes``: every workload's exact config per design, kept up to date event by event
- ``visibility``: which workloads see a service (the Sidecar scope)
- ``requests``: a push request and how two merge (Istio's ``PushRequest.Merge``)
- ``debounce``: the debouncer (after/max, EDS debounce switch, single flight)
- ``push_queue``: the per-proxy push queue (never a proxy twice; re-queued if asked meanwhile)
- ``lanes``: the dispatcher (throttle, cores, egress) as vectorized max-plus recurrences
- ``reference``: the same dispatcher push by push in simpy, for tests and benchmarks
- ``pushlog``: the pushes started; what the merge of pushes ``first..latest`` carries
- ``work``: what a proxy push costs (bytes by type, CPU, send, apply), priced once per merge and
  proxy class where every proxy of a class gets the same
- ``fanout``: the istiod replicas' push queues and fan-out over proxies, vectorized between events
- ``costs``: unit costs from the calibration and the scenario
- ``simulate``: the wiring, one simpy environment per design
- ``metrics``, ``tables``, ``runner``: tallies, result tables with Istio's metric names, the entry point
"""
