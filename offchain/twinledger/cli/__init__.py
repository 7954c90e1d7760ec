"""The `twinledger` command line for people and the daemon's launcher: `main` registers every command
group; `commands/` holds twins, parties, documents, programs and verification; `dev`, `agent` and
`ipfs` are the dev stack, the agent daemon and the embedded node. The only layer that prompts or prints."""
