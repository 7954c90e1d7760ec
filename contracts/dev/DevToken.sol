// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title A test token for the dev chain's agreements (escrow in ERC-20), minted only by its deployer.
contract DevToken is ERC20 {
    /// @notice Who may mint: the deployer.
    address public immutable minter;

    /// @notice `account` is not the minter.
    error NotMinter(address account);

    constructor() ERC20("TwinLedger Dev Token", "TLD") {
        minter = msg.sender;
    }

    /// @notice Mints `amount` to `to`. Only the deployer may mint.
    /// @param to The receiver.
    /// @param amount The amount, in the smallest unit (18 decimals).
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _mint(to, amount);
    }
}
