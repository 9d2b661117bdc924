"""FollowTheMoney entities as OpenSanctions and yente publish them (JSON lines)."""

from .mapping import ENTITY_SCHEMAS, LINK_SCHEMAS, FtmEntity, map_entity, read_entities

__all__ = ["ENTITY_SCHEMAS", "LINK_SCHEMAS", "FtmEntity", "map_entity", "read_entities"]
