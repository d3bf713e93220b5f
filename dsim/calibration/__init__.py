"""Envoy memory and CPU model: measured on the real Envoy over ADS, fitted, shipped as data.

- ``plan``: the calibration meshes (quick and full plans, held-out points; the full plan D-optimal)
- ``certificate_profiles``: the workload certificate profiles, by name (Istio's default and others)
- ``secrets``, ``xds_server``, ``live_envoy``, ``measure``: one real measurement (certificates,
  an in-process ADS/SDS server, the Envoy process, the measuring procedure)
- ``campaign``: a plan × designs × stats profiles on the real Envoy
- ``istiod_cost``: dsim's generator cost per xDS type, and the scale to istiod's Go
- ``fit``, ``calibrate``: least squares with intervals; ``dsim calibrate``'s pipeline and files
- ``model``, ``predict``, ``tables``: the shipped model, per-proxy predictions, coefficient tables

Only measuring needs gRPC and certificates; loading the model and predicting import neither.
"""
