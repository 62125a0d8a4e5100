"""What the OpenAPI must say that Litestar does not derive by itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import OpenAPIType, Schema

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's schema for a msgspec struct, with `additionalProperties: false` when the
    struct refuses unknown fields (`forbid_unknown_fields=True`, every request body here).

    Without it the OpenAPI allows a body that the server answers with 400 ("Object contains
    unknown field"): a client generated from the document, or a fuzzer, believes it valid."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        info = msgspec.inspect.type_info(field_definition.type_)
        if isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields:
            schema.additional_properties = False
        one_of = getattr(field_definition.type_, "OPENAPI_ONE_OF", None)
        if one_of:  # what no single field says: which fields go together
            schema.one_of = [_schema(alternative) for alternative in one_of]
        return schema


_KEYWORDS = {"not": "schema_not", "anyOf": "any_of", "oneOf": "one_of", "allOf": "all_of"}
"""JSON Schema keywords whose name in Litestar's `Schema` is another."""


def _schema(written: dict[str, Any]) -> Schema:
    """A JSON Schema written as a dict (as a domain module may, without Litestar) as
    Litestar's `Schema`."""
    values: dict[str, Any] = {}
    for keyword, value in written.items():
        if keyword == "not":
            value = _schema(value)
        elif keyword in ("anyOf", "oneOf", "allOf"):
            value = [_schema(part) for part in value]
        elif keyword == "properties":
            value = {name: _schema(part) for name, part in value.items()}
        elif keyword == "type":
            value = OpenAPIType(value)
        values[_KEYWORDS.get(keyword, keyword)] = value
    return Schema(**values)
