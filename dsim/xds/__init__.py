"""Real Envoy v3 xDS messages (xds-protos) for one sidecar under one design."""
