"""The base of every wire model: POP's camelCase names, unknown fields kept, epoch-ms times.

Layer: models (imports only pydantic and the standard library).
"""

from __future__ import annotations

import json
from typing import Any, Self

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from pop.models.states import new_id, now_ms

__all__ = ["WireModel", "new_id", "now_ms"]


class WireModel(BaseModel):
    """A POP JSON object: camelCase field names, unknown fields accepted and preserved.

    ``to_wire()`` emits the fields that were given (on load or construction), so POP JSON
    round-trips unchanged; code that builds new objects passes every field it wants shown.
    """

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        validate_assignment=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """The POP JSON object (camelCase keys) of this model."""
        return self.model_dump(by_alias=True, mode="json", exclude_unset=True)

    def to_json(self) -> str:
        return json.dumps(self.to_wire(), separators=(",", ":"))

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        return cls.model_validate(data)

    def set(self, **values: Any) -> None:
        """Assign fields so that they count as given (and appear in :meth:`to_wire`)."""
        for name, value in values.items():
            setattr(self, name, value)
