"""`ape run deploy --network ...`: deploy TwinLedger to any network and write its deployment file.

It walks the same plan as `twinledger.chain.deploy`, so the wiring lives in one place.
"""
from pathlib import Path

import click
from ape import project
from ape.cli import ConnectedProviderCommand, account_option

from twinledger.chain.deploy import DEPLOY_PLAN, WIRE_PLAN
from twinledger.chain.deployment import DeployedContract, Deployment


@click.command(cls=ConnectedProviderCommand)
@account_option()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the deployment file (default: deployments/<network>-<chain id>.json).")
def cli(network, provider, account, out):
    """Deploy Authorization, Specification and SensorFeed, wire them, and write the deployment file."""
    first_block = provider.chain_manager.blocks.height + 1
    addresses: dict[str, str] = {}
    contracts = {}
    for step in DEPLOY_PLAN:
        contract = account.deploy(project.get_contract(step.contract), *step.args(addresses, account.address))
        addresses[step.contract] = contract.address
        contracts[step.contract] = contract
        click.echo(f"{step.contract:<14} {contract.address}")
    for wire in WIRE_PLAN:
        method = getattr(contracts[wire.contract], wire.function.split("(")[0])
        method(*wire.args(addresses), sender=account)
    chain_id = provider.chain_id
    deployment = Deployment(
        chain_id=chain_id,
        block=first_block,
        deployer=account.address,
        rpc_url=getattr(provider, "uri", None),
        contracts={name: DeployedContract(address=addresses[name],
                                          abi=[abi.model_dump(mode="json", by_alias=True) for abi in c.contract_type.abi])
                   for name, c in contracts.items()},
    )
    path = out or Path("deployments") / f"{network.name}-{chain_id}.json"
    deployment.save(path)
    click.echo(f"deployment written to {path}")
