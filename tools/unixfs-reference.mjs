// An independent UnixFS importer (js-ipfs's ipfs-unixfs-importer), used by the tests to cross-check
// the embedded node's CIDs. Reads one JSON request a line on stdin:
//   {"path": FILE, "cidVersion": 0|1, "rawLeaves": bool, "chunkSize": N, "maxLinks": N}
// and prints the root CID of each, a line each, in the same order.
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { MemoryBlockstore } from 'blockstore-core/memory'

async function cidOf (request) {
  const content = await readFile(request.path)
  const options = {
    cidVersion: request.cidVersion,
    rawLeaves: request.rawLeaves,
    chunker: fixedSize({ chunkSize: request.chunkSize }),
    layout: balanced({ maxChildrenPerNode: request.maxLinks }),
    reduceSingleLeafToSelf: true
  }
  let root
  for await (const entry of importer([{ content }], new MemoryBlockstore(), options)) root = entry
  return root.cid.toString()
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== '') console.log(await cidOf(JSON.parse(line)))
}
