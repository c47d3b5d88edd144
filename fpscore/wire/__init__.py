"""The FPS wire protocol both sides share: the action catalogue, request decoding, response XML."""

from fpscore.wire.catalogue import (
    ACTIONS,
    VERSIONS,
    ActionSpec,
    Kind,
    Param,
    action_and_version,
    decode_params,
    namespace,
)
from fpscore.wire.xml import Fields, parse_amount, parse_error, parse_response, render_error, render_success

__all__ = [
    "ACTIONS",
    "VERSIONS",
    "ActionSpec",
    "Fields",
    "Kind",
    "Param",
    "action_and_version",
    "decode_params",
    "namespace",
    "parse_amount",
    "parse_error",
    "parse_response",
    "render_error",
    "render_success",
]
