"""The instyle wire protocol, shared verbatim by the engine and the Blender add-on: messages and their framing,
the stages' parameter specs (`stage_specs`), the names they take (`fixed_styles`, `coco`) and the files a stage's
outputs are written to (`cache_files`).

Standard library only: the add-on ships a copy of this package inside its zip.
"""

from .errors import InstyleError
from .framing import Limits, ProtocolError, decode_message, encode_message, recv_message, send_message
from .arrays import ArraySpec, check_array_spec, describe_array
from .messages import ENGINE_TYPES, PROTOCOL_VERSION, check_header
from .runtime import RuntimeInfo, default_runtime_path, read_runtime, write_runtime, remove_runtime
from .client import Client, EngineError, Job, connect
from .requests import parse_request

__all__ = [
    "InstyleError", "ENGINE_TYPES", "PROTOCOL_VERSION", "Limits", "ProtocolError", "decode_message",
    "encode_message", "recv_message", "send_message", "ArraySpec", "check_array_spec", "describe_array",
    "check_header", "RuntimeInfo", "default_runtime_path", "read_runtime", "write_runtime", "remove_runtime",
    "Client", "EngineError", "Job", "connect", "parse_request",
]
