"""Run ape with its hidden-folder source exclusions made relative to the project.

ape excludes every source whose *absolute* path has a parent folder named `.cache` or `.build`
(`ape.utils.misc.SOURCE_EXCLUDE_PATTERNS`, always added to the config's own exclusions). A checkout
under such a folder, where some tools and CI runners put their clones, then compiles nothing:
`ape compile` says "Nothing to compile". The exclusions are still wanted inside the project
(`contracts/.cache` holds the unpacked OpenZeppelin sources), so this drops the bare folder names
and `ape-config.yaml` excludes the same folders with regexes that only match a path relative to the
project. The make targets run ape through this file; `python tools/run_ape.py ARGS` takes the same
arguments as `ape`.
"""

import sys

import ape.managers.project
import ape.utils.misc
import ape_compile.config

_FOLDERS = (".cache", ".build")


def _patch_exclusions() -> None:
    narrowed = tuple(p for p in ape.utils.misc.SOURCE_EXCLUDE_PATTERNS if p not in _FOLDERS)
    for module in (ape.utils.misc, ape.managers.project, ape_compile.config):
        module.SOURCE_EXCLUDE_PATTERNS = narrowed


def main() -> int:
    _patch_exclusions()
    from ape._cli import cli

    sys.argv[0] = "ape"
    return cli()


if __name__ == "__main__":
    sys.exit(main())
