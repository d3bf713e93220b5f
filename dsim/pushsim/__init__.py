"""istiod's push pipeline as a discrete-event model (simpy): debouncing, the push queue, the
throttle, per-proxy generation and Envoy's apply, under churn.

- ``requests``: a push request and how two merge (Istio's ``PushRequest.Merge``)
- ``debounce``: the debouncer (after/max, EDS debounce switch, single flight)
- ``push_queue``: the per-proxy push queue (never a proxy twice; re-queued if asked meanwhile)
"""
