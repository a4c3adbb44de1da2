"""What agent frameworks export as telemetry, mapped to replaydeck events.

Pure functions from a framework's own export payload (its traces, spans or
runs) to standard events with their original times; the web layer feeds the
result to the ingest service. No I/O here, so each mapping is tested on the
payloads the real exporters produce.
"""
