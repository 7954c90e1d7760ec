"""``python -m twinledger.ipfs``: the ``twinledger ipfs`` commands on their own."""

from .cli import ipfs_group

ipfs_group(prog_name="twinledger ipfs")
