"""Content-addressed storage: one interface, an embedded node (the default) and a Kubo client,
with CIDs identical to Kubo's."""

from .car import CarError, iter_car, read_car
from .cids import cid_str, parse_cid
from .embedded import EmbeddedStore, make_block_cid
from .errors import BlockNotFound, IntegrityError, InvalidCid, IpfsError, IpfsUnavailable, NotPinned, UnsupportedContent
from .factory import default_spec, open_store
from .importer import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINKS, ImportParams, ImportResult, import_bytes, import_stream
from .kubo import KuboStore
from .store import AddOptions, AddResult, BlockStat, CarImportResult, ContentStore, Pin, PinType

__all__ = [
    "AddOptions", "AddResult", "BlockNotFound", "BlockStat", "CarError", "CarImportResult", "ContentStore",
    "DEFAULT_CHUNK_SIZE", "DEFAULT_MAX_LINKS", "EmbeddedStore", "ImportParams", "ImportResult",
    "IntegrityError", "InvalidCid", "IpfsError", "IpfsUnavailable", "KuboStore", "NotPinned", "Pin", "PinType",
    "UnsupportedContent", "cid_str", "default_spec", "import_bytes",
    "import_stream", "iter_car", "make_block_cid", "open_store", "parse_cid", "read_car",
]
