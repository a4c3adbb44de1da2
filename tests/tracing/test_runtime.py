"""Export configuration from the standard OTEL_* variables."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

from replaydeck.tracing.runtime import (
    ExportConfig,
    build_exporter,
    build_processor,
    build_resource,
    export_config,
)


def test_no_endpoint_means_no_export() -> None:
    assert export_config({}) is None
    assert build_processor({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) is None


def test_generic_http_endpoint_gets_the_traces_path() -> None:
    config = export_config({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"})
    assert config == ExportConfig("http://collector:4318/v1/traces", "http/protobuf")


def test_traces_endpoint_is_used_as_given_and_wins() -> None:
    config = export_config(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:9999/custom",
        }
    )
    assert config is not None
    assert config.endpoint == "http://traces:9999/custom"


def test_grpc_uses_the_base_endpoint_and_the_traces_protocol_wins() -> None:
    config = export_config(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4317",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-tenant=a,authorization=Bearer%20t",
        }
    )
    assert config == ExportConfig(
        "http://jaeger:4317", "grpc", {"x-tenant": "a", "authorization": "Bearer t"}
    )
    assert isinstance(build_exporter(config), GrpcExporter)


def test_http_exporter_for_http_protobuf() -> None:
    exporter = build_exporter(ExportConfig("http://127.0.0.1:4318/v1/traces"))
    assert isinstance(exporter, HttpExporter)
    exporter.shutdown()


def test_traces_exporter_none_turns_export_off() -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_TRACES_EXPORTER": "none"}
    assert export_config(environ) is None


def test_unsupported_protocol_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="set it to 'http/protobuf' or 'grpc'"):
        export_config(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
        )


def test_service_name() -> None:
    assert build_resource({}).attributes["service.name"] == "replaydeck"
    named = build_resource({"OTEL_SERVICE_NAME": "support-bot-recorder"})
    assert named.attributes["service.name"] == "support-bot-recorder"
