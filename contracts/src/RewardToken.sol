// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title RewardToken
/// @notice The ERC20 that the local default chain pays bounties in. The JobMarket
///         works with any ERC20; this one exists so that a fresh machine has a token.
contract RewardToken is ERC20, Ownable {
    /// @param initialSupply minted to the deployer (18 decimals).
    constructor(uint256 initialSupply) ERC20("zkinfer Reward", "ZKR") Ownable(msg.sender) {
        _mint(msg.sender, initialSupply);
    }

    /// @notice Mints `amount` to `to`; only the owner.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
